/**
 * The one small SQL interface the domain code uses. Two adapters implement it: the RDS Data API (AWS)
 * and `pg` (local runs and tests). Statements use named parameters (`:name`), which both understand.
 */

/** JSON documents are passed explicitly so both adapters can type them (`jsonb`). */
export class SqlJson {
  public constructor(public readonly value: unknown) {}
}

/** A parameter value. Dates are sent as timestamps with time zone; `SqlJson` as JSON text. */
export type SqlValue = string | number | boolean | bigint | null | Date | SqlJson;
export type SqlParams = Readonly<Record<string, SqlValue | undefined>>;

/** Rows come back as plain objects keyed by column name; numbers above 2^53 come back as strings. */
export type SqlRow = Record<string, unknown>;

export interface SqlResult<R extends SqlRow = SqlRow> {
  readonly rows: R[];
  /** Rows inserted, updated or deleted (or returned by a SELECT). */
  readonly rowCount: number;
}

export interface SqlExecutor {
  /**
   * Runs one statement.
   * @throws {SqlError} classified as retriable (connection lost, failover, resuming, serialization) or not.
   */
  query<R extends SqlRow = SqlRow>(sql: string, params?: SqlParams): Promise<SqlResult<R>>;
}

export interface SqlClient extends SqlExecutor {
  /** A name for logs and metrics (e.g. the shard id). */
  readonly name: string;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
   * @throws {SqlError} when begin/commit fail, or whatever `work` throws (after rollback).
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Releases connections; the client cannot be used afterwards. */
  close(): Promise<void>;
}
