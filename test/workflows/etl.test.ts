import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEventsToShard } from '../../lambdas/shared/customers/applyEventsToShard.js';
import { recoverBatches } from '../../lambdas/shared/etl/recoverBatches.js';
import { decodeEvent, type Envelope } from '../../lambdas/shared/events/index.js';
import { etlSettings } from '../../lambdas/shared/resilience/defaults.js';
import { ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient, type SqlClient } from '../../lambdas/shared/sql/index.js';
import { FaultProxy } from '../../local/faults/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import {
  LocalBatchStarter,
  type LocalEtlOptions,
  type Notification,
  runEtlLocally,
} from '../../local/workflows/etl.js';
import type { JSONValue } from '../../local/workflows/runWorkflow.js';

/** The shard behind the fault proxy. */
const FAULTY = 'shard-1';
const SETTINGS = {
  settleSeconds: 0,
  sqlRetries: 1,
  sqlRetryInitialDelayMillis: 10,
  sqlRetryMaxDelayMillis: 20,
  pageSize: 50,
};
const RETRY_WAITS = { OpenBatch: 5, ExtractLoad: 5, ValidateShard: 5, CloseBatch: 5, NotifyFailure: 5 };

// ---- Expectations, computed here from the shards' raw rows, independently of the ETL's SQL. ----

/** UTC ISO-8601 text with microseconds, as PostgreSQL writes it: the whole precision of a timestamptz. */
const iso = (column: string, alias = column) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ${alias}`;

interface RawCustomer {
  customer_id: string;
  email: string | null;
  phone: string | null;
  given_name: string | null;
  family_name: string | null;
  address: { line1: string; line2?: string; city: string; postalCode: string; country: string } | null;
  registered_at: string | null;
  erased_at: string | null;
  event_count: string;
  last_event_at: string;
  updated_at: string;
}

const RAW_COLUMNS =
  'customer_id, email, phone, given_name, family_name, address, event_count::text AS event_count, ' +
  `${iso('registered_at')}, ${iso('erased_at')}, ${iso('last_event_at')}, ${iso('updated_at')}`;

interface ReportingRow {
  customer_id: string;
  source_shard: string;
  email: string | null;
  phone: string | null;
  given_name: string | null;
  family_name: string | null;
  address_line1: string | null;
  address_line2: string | null;
  address_city: string | null;
  address_postal_code: string | null;
  address_country: string | null;
  registered_at: string | null;
  erased: boolean;
  erased_at: string | null;
  event_count: string;
  last_event_at: string;
  source_updated_at: string;
}

const COLUMNS =
  'customer_id, source_shard, email, phone, given_name, family_name, address_line1, address_line2, address_city, ' +
  `address_postal_code, address_country, ${iso('registered_at')}, erased, ${iso('erased_at')}, ` +
  `event_count::text AS event_count, ${iso('last_event_at')}, ${iso('source_updated_at')}`;

function expectedRow(shard: string, raw: RawCustomer): ReportingRow {
  const erased = raw.erased_at !== null;
  const keep = <V>(value: V | null | undefined): V | null => (erased ? null : (value ?? null));
  return {
    customer_id: raw.customer_id,
    source_shard: shard,
    email: keep(raw.email),
    phone: keep(raw.phone),
    given_name: keep(raw.given_name),
    family_name: keep(raw.family_name),
    address_line1: keep(raw.address?.line1),
    address_line2: keep(raw.address?.line2),
    address_city: keep(raw.address?.city),
    address_postal_code: keep(raw.address?.postalCode),
    address_country: keep(raw.address?.country),
    registered_at: raw.registered_at,
    erased,
    erased_at: raw.erased_at,
    event_count: raw.event_count,
    last_event_at: raw.last_event_at,
    source_updated_at: raw.updated_at,
  };
}

/** `2026-01-02T03:04:05.123456Z` as epoch microseconds. */
const micros = (text: string | null): string | null =>
  text === null
    ? null
    : (BigInt(Date.parse(`${text.slice(0, 19)}Z`)) * 1_000n + BigInt(text.slice(20, 26))).toString();

/**
 * md5 of every loaded field (timestamps in epoch microseconds) joined by U+001F, NULL as U+001E; the sum of
 * their first 64 bits, mod 2^64.
 */
function expectedChecksum(rows: readonly ReportingRow[]): string {
  let sum = 0n;
  for (const r of rows) {
    const fields = [
      r.customer_id,
      r.source_shard,
      r.event_count,
      r.email,
      r.phone,
      r.given_name,
      r.family_name,
      r.address_line1,
      r.address_line2,
      r.address_city,
      r.address_postal_code,
      r.address_country,
      String(r.erased),
      micros(r.registered_at),
      micros(r.erased_at),
      micros(r.last_event_at),
      micros(r.source_updated_at),
    ];
    const digest = createHash('md5')
      .update(fields.map((f) => f ?? '\u001e').join('\u001f'))
      .digest('hex');
    sum = (sum + BigInt(`0x${digest.slice(0, 16)}`)) % (1n << 64n);
  }
  return sum.toString(16).padStart(16, '0');
}

describe('ETL state machine (step-functions/etl.asl.json) on real PostgreSQL shards and warehouse', () => {
  let services: LocalDataServices;
  let proxy: FaultProxy;
  let shards: Map<string, SqlClient>;
  let warehouse: PgSqlClient;
  let router: ShardRouter;
  const notifications: Notification[] = [];
  let customers = 0;

  const options = (extra: Partial<LocalEtlOptions> = {}): LocalEtlOptions => ({
    shards,
    warehouse,
    settings: SETTINGS,
    retryIntervals: RETRY_WAITS,
    notify: (n) => notifications.push(n),
    ...extra,
  });

  /** Applies traffic to the shards as the consumer does. */
  async function apply(traffic: readonly Envelope[]): Promise<void> {
    for (const shard of services.shardMap.shards) {
      const mine = traffic.filter((e) => router.shardFor(e.customerId).id === shard.id);
      const client = services.shardClient(shard.id);
      try {
        for (let i = 0; i < mine.length; i += 500) {
          const chunk = mine.slice(i, i + 500).map((e) => ({
            event: decodeEvent(Buffer.from(JSON.stringify(e)).toString('base64')),
          }));
          await applyEventsToShard(client, chunk, (id) => router.bucketOf(id));
        }
      } finally {
        await client.close();
      }
    }
  }

  /** Every shard's customers in the warehouse's shape, by id, read directly (not through the proxy). */
  async function expectedWarehouse(): Promise<Map<string, ReportingRow>> {
    const rows = new Map<string, ReportingRow>();
    for (const shard of services.shardMap.shards) {
      const client = services.shardClient(shard.id);
      try {
        const raw = await client.query<RawCustomer & Record<string, unknown>>(
          `SELECT ${RAW_COLUMNS} FROM customers`,
        );
        for (const r of raw.rows) rows.set(r.customer_id, expectedRow(shard.id, r));
      } finally {
        await client.close();
      }
    }
    return rows;
  }

  async function warehouseRows(): Promise<Map<string, ReportingRow>> {
    const { rows } = await warehouse.query<ReportingRow & Record<string, unknown>>(
      `SELECT ${COLUMNS} FROM dim_customer`,
    );
    return new Map(rows.map((r) => [r.customer_id, r]));
  }

  const batchRow = async (batchId: string) =>
    (
      await warehouse.query(
        `SELECT status, runs, rows_extracted::int AS rows_extracted, rows_written::int AS rows_written,
           source_rows::int AS source_rows, checksum, error FROM etl_batches WHERE batch_id = :batchId`,
        { batchId },
      )
    ).rows[0];

  const attempts = async (batchId: string, shardId: string, step: string) =>
    (
      await warehouse.query(
        `SELECT run, status, error FROM etl_shard_attempts
         WHERE batch_id = :batchId AND shard_id = :shardId AND step = :step ORDER BY attempt_id`,
        { batchId, shardId, step },
      )
    ).rows;

  const succeeded = (result: Awaited<ReturnType<typeof runEtlLocally>>) => {
    if (result.status !== 'SUCCEEDED') throw new Error(`execution failed: ${result.error}: ${result.cause}`);
    return result.output as { batchId: string; checksum: string; rowsExtracted: number; rowsWritten: number };
  };

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 3, redis: false, warehouse: true, name: 'etl-wf' });
    router = new ShardRouter(services.shardMap);
    proxy = await FaultProxy.start({ host: services.postgres.host, port: services.postgres.port });
    shards = new Map(
      services.shardMap.shards.map((s) => [
        s.id,
        new PgSqlClient({
          name: s.id,
          connectionString: s.id === FAULTY ? proxy.via(s.url ?? '') : (s.url ?? ''),
          connectTimeoutMillis: 1_000,
        }),
      ]),
    );
    warehouse = services.warehouseClient();
    customers = 300;
    await apply(generateTraffic({ events: 1_200, customers, customerPrefix: 'etl', erasureRate: 0.05 }));
  });

  afterAll(async () => {
    await Promise.all([...(shards?.values() ?? [])].map((c) => c.close()));
    await warehouse?.close();
    await proxy?.close();
    await services?.stop();
  });

  it('loads every shard into the warehouse and records the batch SUCCEEDED with its counts and checksum', async () => {
    const expected = await expectedWarehouse();

    const result = await runEtlLocally(options());

    const output = succeeded(result);
    expect(await warehouseRows()).toEqual(expected);
    expect(expected.size).toBe(customers);
    expect([...expected.values()].some((r) => r.erased)).toBe(true);
    expect([...expected.values()].some((r) => r.address_line1 !== null)).toBe(true);
    expect(await batchRow(output.batchId)).toEqual({
      status: 'SUCCEEDED',
      runs: 1,
      rows_extracted: customers,
      rows_written: customers,
      source_rows: customers,
      checksum: expectedChecksum([...expected.values()]),
      error: null,
    });
    const validated = await warehouse.query(
      `SELECT shard_id, source_rows::int AS source_rows, warehouse_rows::int AS warehouse_rows FROM etl_shard_attempts
       WHERE batch_id = :batchId AND step = 'validate' AND status = 'SUCCEEDED' ORDER BY shard_id`,
      { batchId: output.batchId },
    );
    expect(validated.rows).toEqual(
      services.shardMap.shards.map((s) => {
        const n = [...expected.values()].filter((r) => r.source_shard === s.id).length;
        return { shard_id: s.id, source_rows: n, warehouse_rows: n };
      }),
    );
    expect(notifications).toEqual([]);
  });

  it('re-running a successful batch changes nothing in the warehouse and records the re-run', async () => {
    const { rows: batches } = await warehouse.query(
      `SELECT batch_id, checksum FROM etl_batches WHERE status = 'SUCCEEDED' ORDER BY window_end DESC LIMIT 1`,
    );
    const batchId = String(batches[0]?.batch_id);
    const before = await warehouse.query('SELECT * FROM dim_customer ORDER BY customer_id');

    const result = await runEtlLocally(options(), { batchId });

    const output = succeeded(result);
    const after = await warehouse.query('SELECT * FROM dim_customer ORDER BY customer_id');
    expect(after.rows).toEqual(before.rows);
    expect(output.rowsWritten).toBe(0);
    expect(output.checksum).toBe(batches[0]?.checksum);
    expect(await batchRow(batchId)).toMatchObject({ status: 'SUCCEEDED', runs: 2, rows_written: 0 });
    const runs = await warehouse.query(
      'SELECT run, status, checksum FROM etl_batch_runs WHERE batch_id = :batchId ORDER BY run',
      { batchId },
    );
    expect(runs.rows).toEqual([
      { run: 1, status: 'SUCCEEDED', checksum: batches[0]?.checksum },
      { run: 2, status: 'SUCCEEDED', checksum: batches[0]?.checksum },
    ]);
  });

  it('picks up the events applied between batches in the next window, with no gap and no duplicate', async () => {
    const { rows: last } = await warehouse.query(
      `SELECT to_char(max(window_end) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS end FROM etl_batches`,
    );
    const more = generateTraffic({
      events: 400,
      customers: 350,
      customerPrefix: 'etl',
      seed: 7,
      erasureRate: 0.05,
    }).slice(customers - 50);
    await apply(more);
    const changed = new Set(more.map((e) => e.customerId));
    const expected = await expectedWarehouse();

    const output = succeeded(await runEtlLocally(options()));

    const { rows } = await warehouse.query(
      `SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS start
       FROM etl_batches WHERE batch_id = :batchId`,
      { batchId: output.batchId },
    );
    expect(rows[0]?.start).toBe(last[0]?.end);
    expect(output.rowsExtracted).toBe(changed.size);
    expect(await warehouseRows()).toEqual(expected);
    const loadedByThisBatch = await warehouse.query(
      'SELECT count(*)::int AS n FROM dim_customer WHERE loaded_batch_id = :batchId',
      { batchId: output.batchId },
    );
    expect(loadedByThisBatch.rows[0]?.n).toBe(changed.size);
  });

  it("absorbs a shard refusing its first two loads with the state machine's Retry", async () => {
    await apply(generateTraffic({ events: 60, customers: 60, customerPrefix: 'etl-retry' }));
    const expected = await expectedWarehouse();
    let faultyLoads = 0;

    const result = await runEtlLocally(
      options({
        // A real network fault on the shard's connections for the first two attempts, healed for the third.
        intercept: async (state, input, next) => {
          if (state === 'ExtractLoad' && (input as { shardId?: string }).shardId === FAULTY) {
            faultyLoads += 1;
            if (faultyLoads <= 2) await proxy.reset();
            else await proxy.heal();
          }
          return (await next(input)) as JSONValue;
        },
      }),
    );

    const output = succeeded(result);
    expect(faultyLoads).toBe(3);
    expect(await warehouseRows()).toEqual(expected);
    const tries = await attempts(output.batchId, FAULTY, 'extract-load');
    expect(tries.map((t) => t.status)).toEqual(['FAILED', 'FAILED', 'SUCCEEDED']);
    expect(String(tries[0]?.error)).toMatch(/^EtlTransientError: extract-load shard-1/);
    expect(await batchRow(output.batchId)).toMatchObject({ status: 'SUCCEEDED', runs: 1, error: null });
  });

  it('fails the batch when a shard stays down, notifies, and the recovery job re-runs it once the shard is back', async () => {
    await apply(generateTraffic({ events: 80, customers: 80, customerPrefix: 'etl-down' }));
    await proxy.reset();
    notifications.length = 0;

    const failed = await runEtlLocally(options());

    expect(failed).toMatchObject({ status: 'FAILED', error: 'EtlBatchFailed' });
    const { rows } = await warehouse.query(`SELECT batch_id FROM etl_batches WHERE status = 'FAILED'`);
    expect(rows).toHaveLength(1);
    const batchId = String(rows[0]?.batch_id);
    const batch = await batchRow(batchId);
    expect(batch).toMatchObject({ status: 'FAILED', runs: 1, checksum: null });
    expect(String(batch?.error)).toMatch(/^shard-1: EtlTransientError: extract-load shard-1/);
    const tries = await attempts(batchId, FAULTY, 'extract-load');
    // The first attempt and the definition's three retries, each recorded with its error.
    expect(tries).toHaveLength(4);
    expect(tries.every((t) => t.status === 'FAILED' && /EtlTransientError/.test(String(t.error)))).toBe(true);
    for (const healthy of ['shard-0', 'shard-2']) {
      expect((await attempts(batchId, healthy, 'validate')).map((t) => t.status)).toEqual(['SUCCEEDED']);
    }
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({
      subject: 'ETL batch failed',
      message: { batchId, status: 'FAILED' },
    });
    expect(notifications[0]?.topicArn).toMatch(/^arn:aws:sns:/);

    await proxy.heal();
    const starter = new LocalBatchStarter(options());
    const report = await recoverBatches({ warehouse, starter, settings: etlSettings({ maxRetries: 3 }) });

    expect(report).toMatchObject({ failedBatches: 1, started: [{ batchId, run: 2 }], exhausted: [] });
    expect(starter.executions.map((e) => e.result.status)).toEqual(['SUCCEEDED']);
    expect(await batchRow(batchId)).toMatchObject({ status: 'SUCCEEDED', runs: 2, error: null });
    expect(await warehouseRows()).toEqual(await expectedWarehouse());
    const after = await recoverBatches({ warehouse, starter, settings: etlSettings() });
    expect(after).toMatchObject({ failedBatches: 0, started: [] });
    expect(after.stalenessSeconds).toBeGreaterThanOrEqual(0);
  });

  it('fails validation without retrying it when the warehouse disagrees, and a re-run repairs the rows', async () => {
    await apply(
      generateTraffic({ events: 60, customers: 40, customerPrefix: 'etl-tamper', erasureRate: 0.3 }),
    );
    let renamed = 0;
    let retimed = 0;

    const failed = await runEtlLocally(
      options({
        // Someone edits the warehouse between the load and the validation of shard-0: a reported attribute
        // of the customers still there, and the last event time of the erased ones.
        intercept: async (state, input, next) => {
          if (state === 'ValidateShard' && (input as { shardId?: string }).shardId === 'shard-0') {
            const batchId = String((input as { batchId?: string }).batchId);
            const named = await warehouse.query(
              `UPDATE dim_customer SET given_name = 'tampered'
               WHERE loaded_batch_id = :batchId AND source_shard = 'shard-0' AND NOT erased`,
              { batchId },
            );
            const timed = await warehouse.query(
              `UPDATE dim_customer SET last_event_at = last_event_at - interval '1 millisecond'
               WHERE loaded_batch_id = :batchId AND source_shard = 'shard-0' AND erased`,
              { batchId },
            );
            renamed += named.rowCount;
            retimed += timed.rowCount;
          }
          return (await next(input)) as JSONValue;
        },
      }),
    );
    const tampered = renamed + retimed;

    expect(failed).toMatchObject({ status: 'FAILED', error: 'EtlBatchFailed' });
    expect(renamed).toBeGreaterThan(0);
    expect(retimed).toBeGreaterThan(0);
    const { rows } = await warehouse.query(
      `SELECT batch_id FROM etl_batches WHERE status = 'FAILED' ORDER BY window_end DESC LIMIT 1`,
    );
    const batchId = String(rows[0]?.batch_id);
    const checks = await attempts(batchId, 'shard-0', 'validate');
    expect(checks).toHaveLength(1);
    expect(String(checks[0]?.error)).toMatch(
      new RegExp(`^EtlValidationError: shard-0 .* ${tampered} differing`),
    );

    const rerun = succeeded(await runEtlLocally(options(), { batchId }));

    expect(rerun.rowsWritten).toBe(tampered);
    expect(await warehouseRows()).toEqual(await expectedWarehouse());
  });

  it('times out a SQL call that hangs as EtlTransientError, which the state machine retries', async () => {
    await apply(generateTraffic({ events: 30, customers: 30, customerPrefix: 'etl-hang' }));
    const expected = await expectedWarehouse();
    const faulty = shards.get(FAULTY);
    if (faulty === undefined) throw new Error(`no client for ${FAULTY}`);
    let loads = 0;

    const result = await runEtlLocally(
      options({
        settings: { ...SETTINGS, sqlTimeoutMillis: 500 },
        // The first load of the faulty shard meets a network that swallows everything: its query goes out on
        // an open connection and is never answered, and new connections never complete. Healed for the retry.
        intercept: async (state, input, next) => {
          if (state === 'ExtractLoad' && (input as { shardId?: string }).shardId === FAULTY) {
            loads += 1;
            if (loads === 1) {
              await faulty.query('SELECT 1');
              await proxy.hang();
            } else {
              await proxy.heal();
            }
          }
          return (await next(input)) as JSONValue;
        },
      }),
    ).finally(() => proxy.heal());

    const output = succeeded(result);
    expect(loads).toBe(2);
    const tries = await attempts(output.batchId, FAULTY, 'extract-load');
    expect(tries.map((t) => t.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(String(tries[0]?.error)).toMatch(/^EtlTransientError: extract-load shard-1: SQL call timed out/);
    expect(await warehouseRows()).toEqual(expected);
  }, 30_000);

  it('accepts a loaded row whose customer moved past the window before validation; the next batch loads it', async () => {
    await apply(generateTraffic({ events: 40, customers: 30, customerPrefix: 'etl-moved' }));
    const shard0 = shards.get('shard-0');
    if (shard0 === undefined) throw new Error('no client for shard-0');
    let moved = '';

    const first = await runEtlLocally(
      options({
        // The consumer changes a customer of shard-0 after its load and before its validation: the shard's
        // row now belongs to a later window, while the warehouse still holds this window's version.
        intercept: async (state, input, next) => {
          if (state === 'ValidateShard' && (input as { shardId?: string }).shardId === 'shard-0') {
            const { rows } = await warehouse.query(
              `SELECT customer_id FROM dim_customer
               WHERE loaded_batch_id = :batchId AND source_shard = 'shard-0' AND NOT erased
               ORDER BY customer_id LIMIT 1`,
              { batchId: String((input as { batchId?: string }).batchId) },
            );
            moved = String(rows[0]?.customer_id);
            await shard0.query(
              `UPDATE customers SET family_name = 'Moved', event_count = event_count + 1, updated_at = now()
               WHERE customer_id = :id`,
              { id: moved },
            );
          }
          return (await next(input)) as JSONValue;
        },
      }),
    );

    const output = succeeded(first);
    expect(moved).toMatch(/^etl-moved/);
    const steps = await warehouse.query(
      `SELECT step, status, rows_extracted::int AS rows_extracted, source_rows::int AS source_rows,
         warehouse_rows::int AS warehouse_rows
       FROM etl_shard_attempts WHERE batch_id = :batchId AND shard_id = 'shard-0' ORDER BY attempt_id`,
      { batchId: output.batchId },
    );
    const loaded = Number(steps.rows[0]?.rows_extracted);
    expect(steps.rows).toEqual([
      {
        step: 'extract-load',
        status: 'SUCCEEDED',
        rows_extracted: loaded,
        source_rows: null,
        warehouse_rows: null,
      },
      {
        step: 'validate',
        status: 'SUCCEEDED',
        rows_extracted: null,
        source_rows: loaded - 1,
        warehouse_rows: loaded - 1,
      },
    ]);
    expect(await batchRow(output.batchId)).toMatchObject({ status: 'SUCCEEDED', error: null });

    const next = succeeded(await runEtlLocally(options()));

    const { rows } = await warehouse.query(
      'SELECT family_name, loaded_batch_id FROM dim_customer WHERE customer_id = :id',
      { id: moved },
    );
    expect(rows).toEqual([{ family_name: 'Moved', loaded_batch_id: next.batchId }]);
    expect(await warehouseRows()).toEqual(await expectedWarehouse());
  });
});
