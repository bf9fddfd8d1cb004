import { ENV } from '../contracts/index.js';
import { type EtlSettings, etlSettings } from '../resilience/defaults.js';
import { DataApiSqlClient, PgSqlClient, type SqlClient } from '../sql/index.js';
import { EtlConfigError } from './errors.js';

/** The environment of the ETL step functions and of the recovery job, as Lambda passes it. */
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
