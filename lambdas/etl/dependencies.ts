import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { etlSettingsFrom, warehouseClientFrom } from '../shared/etl/environment.js';
import { EtlConfigError } from '../shared/etl/errors.js';
import { createEtlSteps, type EtlSteps } from '../shared/etl/steps.js';
import { parseShardMap, type ShardMap } from '../shared/sharding/index.js';
import { sqlClientFor } from '../shared/sql/index.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** Read here as by the recovery job; kept importable from the ETL function's wiring. */
export { etlSettingsFrom, warehouseClientFrom };

/**
 * The shard map from `SHARD_MAP` (the consumer's format).
 * @throws {EtlConfigError} when it is missing or invalid.
 */
export function shardMapFrom(env: Environment): ShardMap {
  const raw = env.SHARD_MAP;
  if (raw === undefined || raw === '') throw new EtlConfigError('SHARD_MAP is not set');
  try {
    return parseShardMap(raw);
  } catch (error: unknown) {
    throw new EtlConfigError(
      `SHARD_MAP is invalid: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

export interface WiredEtl {
  readonly steps: EtlSteps;
  close(): Promise<void>;
}

/**
 * Builds the step functions over a client per shard and the warehouse. Used by the Lambda handler (Data
 * API) and, with `pg` URLs in the shard map and `WAREHOUSE_URL`, on this machine.
 * @throws {EtlConfigError} when a setting is missing or invalid.
 */
export function wireEtl(env: Environment, observability: { logger: Logger; metrics: Metrics }): WiredEtl {
  const shardMap = shardMapFrom(env);
  const settings = etlSettingsFrom(env);
  const warehouse = warehouseClientFrom(env);
  // Each step touches one shard at a time: one connection per shard is enough for the pg adapter.
  const shards = new Map(shardMap.shards.map((s) => [s.id, sqlClientFor(s, 1)]));
  return {
    steps: createEtlSteps({ shards, warehouse, settings, ...observability }),
    async close() {
      await Promise.all([...shards.values(), warehouse].map((c) => c.close()));
    },
  };
}
