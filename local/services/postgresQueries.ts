import pg from 'pg';
import { assertIdentifier } from './postgresConfig.js';

/** Where a one-off statement runs, as the `postgres` superuser. */
export interface QueryTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
}

/**
 * Runs one statement on a fresh connection as `postgres` and closes it.
 * @throws {Error} whatever `pg` raises (connection refused, SQL errors).
 */
export async function queryOnce<R extends pg.QueryResultRow = pg.QueryResultRow>(
  target: QueryTarget,
  sql: string,
  params: readonly unknown[],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: 'postgres',
    database: target.database,
    connectionTimeoutMillis: 5_000,
  });
  // A server killed mid-session makes the client emit 'error'; the failing query already reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.query<R>(sql, [...params]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

type Query = (sql: string, params: readonly unknown[]) => Promise<pg.QueryResult<pg.QueryResultRow>>;

/**
 * Creates each database that does not exist yet.
 * @throws {HarnessError} for a name that is not a plain lower-case identifier.
 * @throws {Error} when PostgreSQL rejects the statement.
 */
export async function createMissingDatabases(query: Query, names: readonly string[]): Promise<void> {
  for (const name of names) assertIdentifier(name);
  const existing = await query('SELECT datname FROM pg_database WHERE datname = ANY($1::text[])', [
    [...names],
  ]);
  const present = new Set(existing.rows.map((row) => String(row.datname)));
  for (const name of names) {
    if (present.has(name)) continue;
    await query(`CREATE DATABASE "${name}"`, []);
    present.add(name);
  }
}
