import type { Stack } from 'aws-cdk-lib';
import { type DataStack, SHARD_MAP_VERSION } from '../stacks/DataStack.js';

/** Lambda holds all environment variables of a function in 4 KB; the shard map must leave room for the rest. */
const SHARD_MAP_ENV_BUDGET_BYTES = 3072;
/** Upper bound of one shard's entry in SHARD_MAP (id, cluster and secret ARNs, database). */
const SHARD_ENTRY_BYTES = 256;

/**
 * The `SHARD_MAP` environment variable of a function that reaches the shards through the Data API: the
 * same document as the shard map parameter (`{ version, shards: [{ id, clusterArn, secretArn, database }] }`),
 * serialized in `stack` so that the ARNs resolve there (as imports from the data stack). Passing it in the
 * environment spares every cold start a Parameter Store read.
 *
 * @param consumerName - the function the variable is for; named in the error.
 * @throws {Error} when the shards would not fit Lambda's environment; such a function must read the
 *   shard map parameter instead.
 */
export function shardMapEnvironment(stack: Stack, data: DataStack, consumerName: string): string {
  if (data.shards.length * SHARD_ENTRY_BYTES > SHARD_MAP_ENV_BUDGET_BYTES) {
    throw new Error(
      `${data.shards.length} shards do not fit the ${consumerName}'s SHARD_MAP environment variable ` +
        `(${SHARD_MAP_ENV_BUDGET_BYTES} bytes); read the shard map from ${data.shardMapParameter.parameterName} instead`,
    );
  }
  return stack.toJsonString({
    version: SHARD_MAP_VERSION,
    shards: data.shards.map((shard) => ({
      id: shard.shardId,
      clusterArn: shard.clusterArn,
      secretArn: shard.secret.secretArn,
      database: shard.databaseName,
    })),
  });
}
