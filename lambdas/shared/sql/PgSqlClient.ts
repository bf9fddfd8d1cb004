import pg from 'pg';
import { classifyPgError } from './classifyPgError.js';
import { compileNamedParameters } from './namedParameters.js';
import {
  type SqlClient,
  type SqlExecutor,
  SqlJson,
  type SqlParams,
  type SqlResult,
  type SqlRow,
} from './types.js';

export interface PgSqlClientOptions {
  readonly name: string;
  readonly connectionString: string;
  /** Connections in the pool. */
  readonly maxConnections?: number;
  /** How long to wait for a connection before failing (retriable). */
  readonly connectTimeoutMillis?: number;
  /** Server-side cap on one statement. */
  readonly statementTimeoutMillis?: number;
}

export const PG_DEFAULTS = {
  maxConnections: 8,
  connectTimeoutMillis: 2_000,
  statementTimeoutMillis: 15_000,
} as const;

const toPgValue = (value: SqlParams[string]): unknown => {
  if (value === undefined) return null;
  if (value instanceof SqlJson) return JSON.stringify(value.value);
  if (typeof value === 'bigint') return value.toString();
  return value;
};

const run = async <R extends SqlRow>(
  conn: pg.Pool | pg.PoolClient,
  name: string,
  sql: string,
  params: SqlParams = {},
): Promise<SqlResult<R>> => {
  const { text, names } = compileNamedParameters(sql);
  const values = names.map((n) => {
    if (!(n in params)) throw new RangeError(`${name}: statement uses :${n} but no value was given`);
    return toPgValue(params[n]);
  });
  try {
    const result = await conn.query<R>(text, values);
    return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
  } catch (error: unknown) {
    throw classifyPgError(error, name);
  }
};

/** `SqlClient` on a `pg` connection pool: local runs, tests, and any PostgreSQL reachable over TCP. */
export class PgSqlClient implements SqlClient {
  public readonly name: string;
  private readonly pool: pg.Pool;

  public constructor(options: PgSqlClientOptions) {
    this.name = options.name;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? PG_DEFAULTS.maxConnections,
      connectionTimeoutMillis: options.connectTimeoutMillis ?? PG_DEFAULTS.connectTimeoutMillis,
      statement_timeout: options.statementTimeoutMillis ?? PG_DEFAULTS.statementTimeoutMillis,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
    });
    // A backend dying (failover, restart) surfaces here for idle clients; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  public query<R extends SqlRow = SqlRow>(sql: string, params?: SqlParams): Promise<SqlResult<R>> {
    return run<R>(this.pool, this.name, sql, params);
  }

  public async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    let conn: pg.PoolClient;
    try {
      conn = await this.pool.connect();
    } catch (error: unknown) {
      throw classifyPgError(error, this.name);
    }
    let broken = false;
    // A checked-out client has no pool listener: a backend dying mid-transaction must not crash the process.
    const onError = () => {
      broken = true;
    };
    conn.on('error', onError);
    try {
      await run(conn, this.name, 'BEGIN');
      const result = await work({ query: (sql, params) => run(conn, this.name, sql, params) });
      await run(conn, this.name, 'COMMIT');
      return result;
    } catch (error: unknown) {
      try {
        await conn.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      conn.removeListener('error', onError);
      conn.release(broken);
    }
  }

  public async close(): Promise<void> {
    await this.pool.end();
  }
}
