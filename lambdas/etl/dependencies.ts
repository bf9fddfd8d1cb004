import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { ENV } from '../shared/contracts/index.js';
import { EtlConfigError } from '../shared/etl/errors.js';
import { type EtlSettings, etlSettings } from '../shared/etl/policies.js';
import { createEtlSteps, type EtlSteps } from '../shared/etl/steps.js';
import { parseShardMap, type ShardMap } from '../shared/sharding/index.js';
import { DataApiSqlClient, PgSqlClient, type SqlClient, sqlClientFor } from '../shared/sql/index.js';

type Environment = Readonly<Record<string, string | undefined>>;

const WAREHOUSE_CLIENT_NAME = 'warehouse';

/**
 * The warehouse: an Aurora cluster through the Data API (`WAREHOUSE_CLUSTER_ARN`, `WAREHOUSE_SECRET_ARN`,
 * `WAREHOUSE_DATABASE`) or, on this machine, a PostgreSQL URL (`WAREHOUSE_URL`).
 * @throws {EtlConfigError} when neither is set.
 */
export function warehouseClientFrom(env: Environment): SqlClient {
  const { WAREHOUSE_CLUSTER_ARN, WAREHOUSE_SECRET_ARN, WAREHOUSE_DATABASE, WAREHOUSE_URL } = env;
  if (WAREHOUSE_CLUSTER_ARN && WAREHOUSE_SECRET_ARN) {
    return new DataApiSqlClient({
      name: WAREHOUSE_CLIENT_NAME,
      resourceArn: WAREHOUSE_CLUSTER_ARN,
      secretArn: WAREHOUSE_SECRET_ARN,
      database: WAREHOUSE_DATABASE || 'warehouse',
    });
  }
  if (WAREHOUSE_URL) return new PgSqlClient({ name: WAREHOUSE_CLIENT_NAME, connectionString: WAREHOUSE_URL });
  throw new EtlConfigError(
    'set WAREHOUSE_CLUSTER_ARN and WAREHOUSE_SECRET_ARN (and WAREHOUSE_DATABASE), or WAREHOUSE_URL',
  );
}

/**
 * The ETL settings from the environment: `ETL_SETTLE_SECONDS` and `ETL_MAX_RETRIES` override the defaults.
 * @throws {EtlConfigError} when one is not a number of zero or more.
 */
export function etlSettingsFrom(env: Environment): EtlSettings {
  const number = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0)
      throw new EtlConfigError(`${name} must be a number >= 0, got ${raw}`);
    return value;
  };
  const settleSeconds = number(ENV.etlSettleSeconds);
  const maxRetries = number(ENV.etlMaxRetries);
  const abandonAfterSeconds = number(ENV.etlAbandonAfterSeconds);
  return etlSettings({
    ...(settleSeconds === undefined ? {} : { settleSeconds }),
    ...(maxRetries === undefined ? {} : { maxRetries }),
    ...(abandonAfterSeconds === undefined ? {} : { abandonAfterSeconds }),
  });
}

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
