import { z } from 'zod';
import { ENV } from '../shared/contracts/index.js';
import {
  arnOf,
  httpsUrl,
  jsonText,
  parseEnvironment,
  redisEnvironment,
  redisSettingsOf,
  requiredString,
} from '../shared/environment/index.js';

/** The consumer function's environment, as the Consumer stack sets it. */
export const consumerEnvironmentSchema = z.object({
  [ENV.shardMap]: jsonText,
  [ENV.dlqQueueUrl]: httpsUrl,
  [ENV.clusterArn]: arnOf('kafka'),
  [ENV.retryTopic]: requiredString,
  ...redisEnvironment,
});

/**
 * Reads and validates the consumer's environment (the shard map's shape is checked by `parseShardMap`).
 * @throws {EnvironmentError} naming every missing or malformed variable.
 */
export function readConsumerEnvironment(env: Readonly<Record<string, string | undefined>> = process.env) {
  const e = parseEnvironment(consumerEnvironmentSchema, env);
  return {
    shardMap: e[ENV.shardMap],
    dlqQueueUrl: e[ENV.dlqQueueUrl],
    clusterArn: e[ENV.clusterArn],
    retryTopic: e[ENV.retryTopic],
    redis: redisSettingsOf(e),
  };
}
