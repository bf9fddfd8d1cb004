import {
  AccessDeniedException,
  BadRequestException,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseErrorException,
  DatabaseNotFoundException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  ExecuteStatementCommand,
  ForbiddenException,
  InternalServerErrorException,
  InvalidSecretException,
  RDSDataClient,
  RollbackTransactionCommand,
  SecretsErrorException,
  ServiceUnavailableError,
  StatementTimeoutException,
  TransactionNotFoundException,
  UnsupportedResultException,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  classifyDataApiError,
  DataApiSqlClient,
  fromFormattedRecords,
  isDataRejection,
  SqlError,
  SqlJson,
  toSqlParameters,
} from '../../../lambdas/shared/sql/index.js';

const TARGET = {
  resourceArn: 'arn:aws:rds:eu-west-1:111122223333:cluster:shard-0',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:shard-0-AbCdEf',
};
const DATABASE = 'cdp';
const TX_ID = 'tx-0123456789';

const rds = mockClient(RDSDataClient);

const newClient = () =>
  new DataApiSqlClient({ name: 'shard-0', ...TARGET, database: DATABASE, client: new RDSDataClient({}) });

const metadata = { $metadata: {} };

/** The error a promise rejects with, for assertions on its identity and fields. */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error: unknown) {
    return error;
  }
  throw new Error('expected the promise to reject');
};

beforeEach(() => {
  rds.reset();
});

describe('toSqlParameters', () => {
  it('marshals every value type into the exact Data API parameter, type hints included', () => {
    // Prepare
    const params = {
      text: 'hello',
      id: '0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b',
      count: 42,
      negative: -7,
      ratio: 0.25,
      beyondSafe: 2 ** 53,
      yes: true,
      no: false,
      nothing: null,
      missing: undefined,
      big: 9_223_372_036_854_775_807n,
      at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
      doc: new SqlJson({ email: 'a@example.com', tags: ['x'] }),
    };

    // Act
    const parameters = toSqlParameters(params);

    // Assess
    expect(parameters).toStrictEqual([
      { name: 'text', value: { stringValue: 'hello' } },
      { name: 'id', value: { stringValue: '0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b' } },
      { name: 'count', value: { longValue: 42 } },
      { name: 'negative', value: { longValue: -7 } },
      { name: 'ratio', value: { doubleValue: 0.25 } },
      { name: 'beyondSafe', value: { doubleValue: 2 ** 53 } },
      { name: 'yes', value: { booleanValue: true } },
      { name: 'no', value: { booleanValue: false } },
      { name: 'nothing', value: { isNull: true } },
      { name: 'missing', value: { isNull: true } },
      { name: 'big', value: { stringValue: '9223372036854775807' } },
      { name: 'at', value: { stringValue: '2024-01-02 03:04:05.006' }, typeHint: 'TIMESTAMP' },
      { name: 'doc', value: { stringValue: '{"email":"a@example.com","tags":["x"]}' }, typeHint: 'JSON' },
    ]);
  });

  it('formats dates in UTC as YYYY-MM-DD HH:MM:SS.sss whatever the offset they were written with', () => {
    // Prepare
    const at = new Date('2024-12-31T23:59:59.999-05:00');

    // Act
    const [parameter] = toSqlParameters({ at });

    // Assess
    expect(parameter).toStrictEqual({
      name: 'at',
      value: { stringValue: '2025-01-01 04:59:59.999' },
      typeHint: 'TIMESTAMP',
    });
  });

  it('sends JSON scalars and null documents as JSON text', () => {
    // Act
    const parameters = toSqlParameters({ list: new SqlJson([1, 2]), empty: new SqlJson(null) });

    // Assess
    expect(parameters).toStrictEqual([
      { name: 'list', value: { stringValue: '[1,2]' }, typeHint: 'JSON' },
      { name: 'empty', value: { stringValue: 'null' }, typeHint: 'JSON' },
    ]);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects %s with a RangeError naming the parameter', (_label, value) => {
    // Act
    const act = () => toSqlParameters({ score: value });

    // Assess
    expect(act).toThrow(RangeError);
    expect(act).toThrow(/:score/);
  });

  it('rejects an invalid date with a RangeError naming the parameter', () => {
    // Act
    const act = () => toSqlParameters({ seenAt: new Date('not a date') });

    // Assess
    expect(act).toThrow(RangeError);
    expect(act).toThrow(/:seenAt/);
  });

  it('rejects a JSON document that cannot be serialised with a TypeError naming the parameter', () => {
    // Prepare
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;

    // Act
    const act = () => toSqlParameters({ doc: new SqlJson(cyclic) });

    // Assess
    expect(act).toThrow(TypeError);
    expect(act).toThrow(/:doc/);
  });
});

describe('fromFormattedRecords', () => {
  it('parses the JSON array into one plain object per row', () => {
    // Act
    const rows = fromFormattedRecords(
      '[{"id":"c-1","n":3,"ok":true,"x":null},{"id":"c-2","n":4.5,"ok":false,"x":{"a":1}}]',
    );

    // Assess
    expect(rows).toStrictEqual([
      { id: 'c-1', n: 3, ok: true, x: null },
      { id: 'c-2', n: 4.5, ok: false, x: { a: 1 } },
    ]);
  });

  it('returns no rows when the response carries no result set', () => {
    // Act and Assess
    expect(fromFormattedRecords(undefined)).toStrictEqual([]);
    expect(fromFormattedRecords('')).toStrictEqual([]);
    expect(fromFormattedRecords('[]')).toStrictEqual([]);
  });

  it('keeps integers beyond 2^53 as exact strings and leaves digits inside strings untouched', () => {
    // Act
    const rows = fromFormattedRecords(
      '[{"big":9223372036854775807,"neg":-9007199254740993,"safe":9007199254740991,"s":"12345678901234567890 \\" 1","f":1.2345678901234567e3}]',
    );

    // Assess
    expect(rows).toStrictEqual([
      {
        big: '9223372036854775807',
        neg: '-9007199254740993',
        safe: 9007199254740991,
        s: '12345678901234567890 " 1',
        f: 1234.5678901234567,
      },
    ]);
  });

  it('rejects JSON that is not an array of row objects', () => {
    // Act and Assess
    expect(() => fromFormattedRecords('{"id":1}')).toThrow(TypeError);
    expect(() => fromFormattedRecords('[1,2]')).toThrow(TypeError);
  });
});

describe('DataApiSqlClient.query', () => {
  it('sends the statement unchanged with marshalled parameters and JSON records, and returns the rows', async () => {
    // Prepare
    rds.on(ExecuteStatementCommand).resolves({
      formattedRecords: '[{"customer_id":"c-1","event_count":2}]',
      numberOfRecordsUpdated: 0,
    });
    const sql = 'SELECT customer_id, event_count FROM customers WHERE customer_id = :id AND bucket = :bucket';

    // Act
    const result = await newClient().query(sql, { id: 'c-1', bucket: 7 });

    // Assess
    const calls = rds.commandCalls(ExecuteStatementCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toStrictEqual({
      ...TARGET,
      database: DATABASE,
      sql,
      parameters: [
        { name: 'id', value: { stringValue: 'c-1' } },
        { name: 'bucket', value: { longValue: 7 } },
      ],
      formatRecordsAs: 'JSON',
      includeResultMetadata: false,
    });
    expect(result).toStrictEqual({ rows: [{ customer_id: 'c-1', event_count: 2 }], rowCount: 1 });
  });

  it('sends only the parameters the statement names, casts and all', async () => {
    // Prepare
    rds.on(ExecuteStatementCommand).resolves({ formattedRecords: '[]' });

    // Act
    await newClient().query('SELECT :ids::jsonb AS ids, :ids::jsonb AS again', {
      ids: new SqlJson(['a']),
      unused: 'ignored',
    });

    // Assess
    expect(rds.commandCalls(ExecuteStatementCommand)[0]?.args[0].input.parameters).toStrictEqual([
      { name: 'ids', value: { stringValue: '["a"]' }, typeHint: 'JSON' },
    ]);
  });

  it('rejects a statement naming a parameter that was not given, before calling the Data API', async () => {
    // Act
    const error = await rejectionOf(newClient().query('DELETE FROM customers WHERE customer_id = :id', {}));

    // Assess
    expect(error).toBeInstanceOf(RangeError);
    expect(String(error)).toMatch(/:id/);
    expect(rds.calls()).toHaveLength(0);
  });

  it('counts the rows a DML statement without RETURNING changed', async () => {
    // Prepare
    rds.on(ExecuteStatementCommand).resolves({ numberOfRecordsUpdated: 3 });

    // Act
    const result = await newClient().query('UPDATE customers SET email = NULL WHERE bucket = :bucket', {
      bucket: 1,
    });

    // Assess
    expect(result).toStrictEqual({ rows: [], rowCount: 3 });
  });

  it('counts zero for a SELECT that matched nothing', async () => {
    // Prepare
    rds.on(ExecuteStatementCommand).resolves({ formattedRecords: '[]', numberOfRecordsUpdated: 0 });

    // Act
    const result = await newClient().query('SELECT 1 WHERE false');

    // Assess
    expect(result).toStrictEqual({ rows: [], rowCount: 0 });
  });

  it('turns a Data API failure into a classified SqlError that keeps the cause', async () => {
    // Prepare
    const resuming = new DatabaseResumingException({ message: 'Database is resuming', ...metadata });
    rds.on(ExecuteStatementCommand).rejects(resuming);

    // Act
    const error = await rejectionOf(newClient().query('SELECT 1'));

    // Assess
    expect(error).toBeInstanceOf(SqlError);
    expect(error).toMatchObject({
      retriable: true,
      context: { client: 'shard-0', code: 'DatabaseResumingException' },
      cause: resuming,
    });
  });
});

describe('DataApiSqlClient.transaction', () => {
  it('begins, runs every statement with the transaction id, commits, and returns the result of the work', async () => {
    // Prepare
    rds.on(BeginTransactionCommand).resolves({ transactionId: TX_ID });
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce({ formattedRecords: '[{"n":1}]' })
      .resolvesOnce({ numberOfRecordsUpdated: 1 });
    rds.on(CommitTransactionCommand).resolves({ transactionStatus: 'Transaction Committed' });

    // Act
    const result = await newClient().transaction(async (tx) => {
      const selected = await tx.query('SELECT 1 AS n');
      const updated = await tx.query('UPDATE customers SET phone = :phone', { phone: null });
      return [selected.rowCount, updated.rowCount];
    });

    // Assess
    expect(result).toStrictEqual([1, 1]);
    expect(rds.calls().map((call) => call.args[0].constructor.name)).toStrictEqual([
      'BeginTransactionCommand',
      'ExecuteStatementCommand',
      'ExecuteStatementCommand',
      'CommitTransactionCommand',
    ]);
    expect(rds.commandCalls(BeginTransactionCommand)[0]?.args[0].input).toStrictEqual({
      ...TARGET,
      database: DATABASE,
    });
    const statements = rds.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input);
    expect(statements.map((input) => input.transactionId)).toStrictEqual([TX_ID, TX_ID]);
    expect(statements[1]).toStrictEqual({
      ...TARGET,
      database: DATABASE,
      sql: 'UPDATE customers SET phone = :phone',
      parameters: [{ name: 'phone', value: { isNull: true } }],
      transactionId: TX_ID,
      formatRecordsAs: 'JSON',
      includeResultMetadata: false,
    });
    expect(rds.commandCalls(CommitTransactionCommand)[0]?.args[0].input).toStrictEqual({
      ...TARGET,
      transactionId: TX_ID,
    });
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(0);
  });

  it('rolls back and rethrows the very error the work threw, never committing', async () => {
    // Prepare
    rds.on(BeginTransactionCommand).resolves({ transactionId: TX_ID });
    rds.on(RollbackTransactionCommand).resolves({ transactionStatus: 'Rollback Complete' });
    const failure = new Error('domain rule broken');

    // Act
    const error = await rejectionOf(
      newClient().transaction(async () => {
        throw failure;
      }),
    );

    // Assess
    expect(error).toBe(failure);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(0);
    expect(rds.commandCalls(RollbackTransactionCommand)[0]?.args[0].input).toStrictEqual({
      ...TARGET,
      transactionId: TX_ID,
    });
  });

  it('rolls back when a statement inside the work fails, and rethrows its classified error', async () => {
    // Prepare
    rds.on(BeginTransactionCommand).resolves({ transactionId: TX_ID });
    rds.on(ExecuteStatementCommand).rejects(
      new DatabaseErrorException({
        message:
          'ERROR: duplicate key value violates unique constraint "applied_events_pkey"; SQLState: 23505',
        ...metadata,
      }),
    );
    rds.on(RollbackTransactionCommand).resolves({});

    // Act
    const error = await rejectionOf(newClient().transaction((tx) => tx.query('INSERT INTO t VALUES (1)')));

    // Assess
    expect(error).toBeInstanceOf(SqlError);
    expect(error).toMatchObject({ retriable: false, context: { code: '23505' } });
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(1);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(0);
  });

  it('keeps the original error when the rollback itself fails', async () => {
    // Prepare
    rds.on(BeginTransactionCommand).resolves({ transactionId: TX_ID });
    rds
      .on(RollbackTransactionCommand)
      .rejects(
        new TransactionNotFoundException({ message: 'Transaction tx-0123456789 is not found', ...metadata }),
      );
    const failure = new Error('domain rule broken');

    // Act
    const error = await rejectionOf(
      newClient().transaction(async () => {
        throw failure;
      }),
    );

    // Assess
    expect(error).toBe(failure);
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(1);
  });

  it('reports a failed commit as a classified SqlError after attempting a rollback', async () => {
    // Prepare
    rds.on(BeginTransactionCommand).resolves({ transactionId: TX_ID });
    rds.on(CommitTransactionCommand).rejects(
      new DatabaseErrorException({
        message: 'ERROR: could not serialize access due to concurrent update; SQLState: 40001',
        ...metadata,
      }),
    );
    rds
      .on(RollbackTransactionCommand)
      .rejects(new TransactionNotFoundException({ message: 'gone', ...metadata }));

    // Act
    const error = await rejectionOf(newClient().transaction(async () => 'done'));

    // Assess
    expect(error).toBeInstanceOf(SqlError);
    expect(error).toMatchObject({ retriable: true, context: { code: '40001' } });
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(1);
  });

  it('does not run the work or roll back when the transaction cannot begin', async () => {
    // Prepare
    rds
      .on(BeginTransactionCommand)
      .rejects(new DatabaseResumingException({ message: 'resuming', ...metadata }));
    const work = vi.fn(async () => 'never');

    // Act
    const error = await rejectionOf(newClient().transaction(work));

    // Assess
    expect(error).toMatchObject({ name: 'SqlError', retriable: true });
    expect(work).not.toHaveBeenCalled();
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(0);
  });

  it('refuses to run the work when the Data API returns no transaction id', async () => {
    // Prepare
    rds.on(BeginTransactionCommand).resolves({});
    const work = vi.fn(async () => 'never');

    // Act
    const error = await rejectionOf(newClient().transaction(work));

    // Assess
    expect(error).toMatchObject({ name: 'SqlError', retriable: false });
    expect(work).not.toHaveBeenCalled();
  });
});

describe('DataApiSqlClient lifecycle', () => {
  const savedEnv = { ...process.env };

  afterEach(() => {
    process.env = { ...savedEnv };
    vi.restoreAllMocks();
  });

  it('loads and constructs with no region or credentials configured, creating no SDK client', async () => {
    // Prepare
    for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    const destroy = vi.spyOn(RDSDataClient.prototype, 'destroy');
    vi.resetModules();

    // Act
    const module = await import('../../../lambdas/shared/sql/DataApiSqlClient.js');
    const client = new module.DataApiSqlClient({ name: 'shard-0', ...TARGET, database: DATABASE });
    await client.close();

    // Assess
    expect(rds.calls()).toHaveLength(0);
    expect(destroy).not.toHaveBeenCalled();
  });

  it('creates its own SDK client on first use and destroys it on close', async () => {
    // Prepare
    rds.on(ExecuteStatementCommand).resolves({ formattedRecords: '[{"n":1}]' });
    const destroy = vi.spyOn(RDSDataClient.prototype, 'destroy');
    const client = new DataApiSqlClient({ name: 'shard-0', ...TARGET, database: DATABASE });

    // Act
    const result = await client.query('SELECT 1 AS n');
    await client.close();

    // Assess
    expect(result.rows).toStrictEqual([{ n: 1 }]);
    expect(destroy).toHaveBeenCalledTimes(1);
  });

  it('leaves an injected SDK client alone on close', async () => {
    // Prepare
    const destroy = vi.spyOn(RDSDataClient.prototype, 'destroy');
    const client = newClient();

    // Act
    await client.close();

    // Assess
    expect(destroy).not.toHaveBeenCalled();
  });
});

describe('classifyDataApiError', () => {
  it.each([
    { Exception: DatabaseResumingException, retriable: true },
    { Exception: DatabaseUnavailableException, retriable: true },
    { Exception: ServiceUnavailableError, retriable: true },
    { Exception: InternalServerErrorException, retriable: true },
    { Exception: StatementTimeoutException, retriable: true },
    { Exception: TransactionNotFoundException, retriable: true },
    { Exception: ForbiddenException, retriable: false },
    { Exception: AccessDeniedException, retriable: false },
    { Exception: DatabaseNotFoundException, retriable: false },
    { Exception: SecretsErrorException, retriable: false },
    { Exception: InvalidSecretException, retriable: false },
    { Exception: UnsupportedResultException, retriable: false },
  ])(
    'classifies $Exception.name as retriable=$retriable and records its name as the code',
    ({ Exception, retriable }) => {
      // Prepare
      const cause = new Exception({ message: 'from the Data API', ...metadata });

      // Act
      const error = classifyDataApiError(cause, 'shard-0');

      // Assess
      expect(error).toMatchObject({ retriable, context: { client: 'shard-0', code: cause.name }, cause });
      expect(error.message).toBe('shard-0: from the Data API');
    },
  );

  it('retries throttling, which the SDK reports by name without a modelled class', () => {
    // Prepare
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $fault: 'client',
    });

    // Act and Assess
    expect(classifyDataApiError(throttled, 'shard-0')).toMatchObject({
      retriable: true,
      context: { code: 'ThrottlingException' },
    });
  });

  it.each([
    [
      'Communications link failure\n\nThe last packet sent successfully to the server was 0 milliseconds ago.',
    ],
    ['The cluster shard-0 is being failed over. Try again later.'],
    ['Connection refused. Check that the hostname and port are correct.'],
    ['FATAL: terminating connection due to administrator command'],
  ])('retries a BadRequest that reports a lost connection or failover: %s', (message) => {
    // Act
    const error = classifyDataApiError(new BadRequestException({ message, ...metadata }), 'shard-0');

    // Assess
    expect(error).toMatchObject({ retriable: true, context: { code: 'BadRequestException' } });
  });

  it.each([
    ['40001', 'ERROR: could not serialize access due to read/write dependencies among transactions'],
    ['40P01', 'ERROR: deadlock detected'],
    ['57P01', 'FATAL: terminating connection due to administrator command'],
    ['57P03', 'FATAL: the database system is starting up'],
    ['08006', 'An I/O error occurred while sending to the backend.'],
    ['25006', 'ERROR: cannot execute INSERT in a read-only transaction'],
  ])('retries a DatabaseError carrying SQLState %s and records that state as the code', (state, text) => {
    // Prepare
    const cause = new DatabaseErrorException({ message: `${text}; SQLState: ${state}`, ...metadata });

    // Act
    const error = classifyDataApiError(cause, 'shard-0');

    // Assess
    expect(error).toMatchObject({ retriable: true, context: { code: state } });
  });

  it.each([
    ['23505', 'ERROR: duplicate key value violates unique constraint "customers_pkey"'],
    ['42601', 'ERROR: syntax error at or near "SELEC"\n  Position: 1'],
    ['42883', 'ERROR: operator does not exist: uuid = character varying'],
  ])('does not retry a statement error carrying SQLState %s', (state, text) => {
    // Prepare
    const cause = new BadRequestException({ message: `${text}; SQLState: ${state}`, ...metadata });

    // Act
    const error = classifyDataApiError(cause, 'shard-0');

    // Assess
    expect(error).toMatchObject({ retriable: false, context: { code: state } });
  });

  it.each([
    ['22P05', 'ERROR: unsupported Unicode escape sequence'],
    ['22008', 'ERROR: date/time field value out of range: "0000-06-30T12:00:00.000Z"'],
    ['23514', 'ERROR: new row for relation "customers" violates check constraint "no_mallory"'],
  ])(
    'never retries a refusal of the data (SQLState %s), even in a server fault, and names it a data rejection',
    (state, text) => {
      // Prepare
      const cause = Object.assign(
        new DatabaseErrorException({ message: `${text}; SQLState: ${state}`, ...metadata }),
        {
          $fault: 'server' as const,
        },
      );

      // Act
      const error = classifyDataApiError(cause, 'shard-0');

      // Assess
      expect(error).toMatchObject({ retriable: false, context: { code: state } });
      expect(isDataRejection(error)).toBe(true);
    },
  );

  it('names neither connection, serialization nor syntax errors a data rejection', () => {
    // Prepare
    const states = ['08006', '40001', '57P01', '42601'];

    // Act
    const rejections = states.map((state) =>
      isDataRejection(
        classifyDataApiError(
          new BadRequestException({ message: `ERROR; SQLState: ${state}`, ...metadata }),
          'shard-0',
        ),
      ),
    );

    // Assess
    expect(rejections).toEqual([false, false, false, false]);
  });

  it('retries an unmodelled server fault, such as a 502 from in front of the endpoint', () => {
    // Prepare
    const badGateway = Object.assign(new Error('Bad Gateway'), { name: 'Unknown', $fault: 'server' });

    // Act and Assess
    expect(classifyDataApiError(badGateway, 'shard-0').retriable).toBe(true);
  });

  it('retries SDK network failures: socket timeouts and reset connections', () => {
    // Prepare
    const timeout = Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

    // Act and Assess
    expect(classifyDataApiError(timeout, 'shard-0')).toMatchObject({
      retriable: true,
      context: { code: 'TimeoutError' },
    });
    expect(classifyDataApiError(reset, 'shard-0')).toMatchObject({
      retriable: true,
      context: { code: 'ECONNRESET' },
    });
  });

  it('never retries a TypeError or RangeError, whatever its message says', () => {
    // Act and Assess
    expect(classifyDataApiError(new TypeError('Connection refused'), 'shard-0').retriable).toBe(false);
    expect(classifyDataApiError(new RangeError('SQLState: 40001'), 'shard-0').retriable).toBe(false);
  });

  it('returns an SqlError unchanged and wraps a thrown non-Error value as not retriable', () => {
    // Prepare
    const already = new SqlError('shard-0: x', true, { client: 'shard-0', code: '40001' });

    // Act
    const passed = classifyDataApiError(already, 'shard-0');
    const wrapped = classifyDataApiError('boom', 'shard-0');

    // Assess
    expect(passed).toBe(already);
    expect(wrapped).toMatchObject({ retriable: false, message: 'shard-0: boom', cause: 'boom' });
  });
});
