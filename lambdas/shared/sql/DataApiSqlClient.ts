import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { classifyDataApiError } from './classifyDataApiError.js';
import { fromFormattedRecords, toSqlParameters } from './dataApiMarshalling.js';
import { SqlError } from './errors.js';
import { compileNamedParameters } from './namedParameters.js';
import type { SqlClient, SqlExecutor, SqlParams, SqlResult, SqlRow } from './types.js';

export interface DataApiSqlClientOptions {
  readonly name: string;
  /** ARN of the Aurora cluster (the Data API always runs statements on its writer). */
  readonly resourceArn: string;
  /** ARN of the Secrets Manager secret holding the database credentials. */
  readonly secretArn: string;
  readonly database: string;
  /** An SDK client to use (shared, or mocked in tests). `close()` leaves an injected client alone. */
  readonly client?: RDSDataClient;
}

/**
 * Keeps only the parameters the statement names, in order of first use: both adapters then accept the
 * same parameter objects, extra keys included.
 */
const referencedParams = (client: string, sql: string, params: SqlParams): SqlParams => {
  const picked: Record<string, SqlParams[string]> = {};
  for (const name of compileNamedParameters(sql).names) {
    if (!(name in params)) throw new RangeError(`${client}: statement uses :${name} but no value was given`);
    picked[name] = params[name];
  }
  return picked;
};

/**
 * `SqlClient` over the RDS Data API (HTTPS, IAM-authorised, no connection to manage). Statements keep
 * their `:name` placeholders, which the Data API binds natively; see `toSqlParameters` for the casts
 * that strings and bigints need.
 */
export class DataApiSqlClient implements SqlClient {
  public readonly name: string;
  private readonly resourceArn: string;
  private readonly secretArn: string;
  private readonly database: string;
  private readonly injected: RDSDataClient | undefined;
  private owned: RDSDataClient | undefined;

  public constructor(options: DataApiSqlClientOptions) {
    this.name = options.name;
    this.resourceArn = options.resourceArn;
    this.secretArn = options.secretArn;
    this.database = options.database;
    this.injected = options.client;
  }

  /**
   * Runs one statement outside any transaction.
   * @throws {SqlError} classified by `classifyDataApiError`.
   * @throws {RangeError} when the statement names a parameter that was not given, or a value is out of range.
   */
  public query<R extends SqlRow = SqlRow>(sql: string, params?: SqlParams): Promise<SqlResult<R>> {
    return this.execute<R>(sql, params, undefined);
  }

  /**
   * Runs `work` in one Data API transaction: committed when it resolves, rolled back when it throws.
   * A failed rollback is ignored (the Data API ends abandoned transactions itself) so the caller sees
   * the error that caused it.
   * @throws {SqlError} when begin or commit fail; whatever `work` throws, after the rollback.
   */
  public async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const transactionId = await this.begin();
    try {
      const result = await work({ query: (sql, params) => this.execute(sql, params, transactionId) });
      await this.call((sdk) => sdk.send(new CommitTransactionCommand({ ...this.target(), transactionId })));
      return result;
    } catch (error: unknown) {
      try {
        await this.call((sdk) =>
          sdk.send(new RollbackTransactionCommand({ ...this.target(), transactionId })),
        );
      } catch {
        // Keep the original error: it is the one that says what went wrong.
      }
      throw error;
    }
  }

  /** Destroys the SDK client this instance created; a later call would create a fresh one. */
  public close(): Promise<void> {
    this.owned?.destroy();
    this.owned = undefined;
    return Promise.resolve();
  }

  private target(): { resourceArn: string; secretArn: string } {
    return { resourceArn: this.resourceArn, secretArn: this.secretArn };
  }

  /** Created on first use, never at import, so loading this module needs no region or credentials. */
  private sdk(): RDSDataClient {
    if (this.injected) return this.injected;
    this.owned ??= new RDSDataClient({});
    return this.owned;
  }

  private async call<T>(send: (sdk: RDSDataClient) => Promise<T>): Promise<T> {
    try {
      return await send(this.sdk());
    } catch (error: unknown) {
      throw classifyDataApiError(error, this.name);
    }
  }

  private async begin(): Promise<string> {
    const { transactionId } = await this.call((sdk) =>
      sdk.send(new BeginTransactionCommand({ ...this.target(), database: this.database })),
    );
    if (transactionId === undefined || transactionId === '') {
      throw new SqlError(`${this.name}: BeginTransaction returned no transactionId`, false, {
        client: this.name,
        code: 'MissingTransactionId',
      });
    }
    return transactionId;
  }

  private async execute<R extends SqlRow>(
    sql: string,
    params: SqlParams = {},
    transactionId: string | undefined,
  ): Promise<SqlResult<R>> {
    const parameters = toSqlParameters(referencedParams(this.name, sql, params));
    return this.call(async (sdk) => {
      const output = await sdk.send(
        new ExecuteStatementCommand({
          ...this.target(),
          database: this.database,
          sql,
          parameters,
          ...(transactionId === undefined ? {} : { transactionId }),
          formatRecordsAs: 'JSON',
          includeResultMetadata: false,
        }),
      );
      // Parsed inside `call` so a malformed response surfaces as a (non-retriable) SqlError. `R` is the
      // caller's statement of the row shape its SQL selects; nothing here can check it.
      const rows = fromFormattedRecords(output.formattedRecords) as R[];
      return { rows, rowCount: rows.length > 0 ? rows.length : (output.numberOfRecordsUpdated ?? 0) };
    });
  }
}
