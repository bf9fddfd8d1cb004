import { applyEventsToShard } from '../../lambdas/shared/customers/applyEventsToShard.js';
import { recoverBatches } from '../../lambdas/shared/etl/recoverBatches.js';
import { decodeEvent, type Envelope } from '../../lambdas/shared/events/index.js';
import { etlSettings } from '../../lambdas/shared/resilience/defaults.js';
import { ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient, type SqlClient } from '../../lambdas/shared/sql/index.js';
import { FaultProxy } from '../faults/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { sleep } from '../services/index.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import {
  LocalBatchStarter,
  type LocalEtlOptions,
  type Notification,
  runEtlLocally,
} from '../workflows/etl.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

/** The shard behind the fault proxy. */
const FAULTY = 'shard-1';
const SETTINGS = {
  settleSeconds: 0,
  sqlRetries: 1,
  sqlRetryInitialDelayMillis: 10,
  sqlRetryMaxDelayMillis: 20,
  pageSize: 200,
};
const RETRY_WAITS = { OpenBatch: 5, ExtractLoad: 5, ValidateShard: 5, CloseBatch: 5, NotifyFailure: 5 };
const RECOVER_WITHIN_SECONDS = 60;

export interface EtlFailureDetails {
  readonly firstBatch: string;
  readonly failedBatch: { readonly status: string; readonly error: string | undefined };
  readonly notifications: Notification[];
  readonly recovery: { readonly failedBatches: number; readonly started: number; readonly exhausted: number };
  readonly rerun: string[];
  /** Shard customers missing from the warehouse, or there with another event count, after the re-run. */
  readonly missing: string[];
  readonly stale: string[];
  /** Warehouse rows of customers no shard has. */
  readonly extra: string[];
}

/** Each customer's event count, on the shards (read directly, not through the proxy) or in the warehouse. */
async function eventCounts(client: SqlClient, sql: string): Promise<Map<string, number>> {
  const { rows } = await client.query<{ customer_id: string; n: number }>(sql);
  return new Map(rows.map((r) => [r.customer_id, r.n]));
}

/**
 * §9 The ETL pipeline fails: one shard refuses the ETL's connections through a whole batch (its retries
 * included), the batch fails and notifies; once the shard is back after `seconds` the recovery job re-runs
 * it, and the warehouse must then agree with every shard.
 */
export async function runEtlFailure(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<EtlFailureDetails>> {
  const events = options.events ?? 2_000;
  const downMillis = (options.seconds ?? 2) * 1_000;
  const started = performance.now();
  progress('starting PostgreSQL (3 shards) and the warehouse');
  const services = await LocalDataServices.start({
    shards: 3,
    redis: false,
    warehouse: true,
    name: 'drill-etl',
  });
  const proxy = await FaultProxy.start({ host: services.postgres.host, port: services.postgres.port });
  const shards = new Map(
    services.shardMap.shards.map((s) => [
      s.id,
      new PgSqlClient({
        name: s.id,
        connectionString: s.id === FAULTY ? proxy.via(s.url ?? '') : (s.url ?? ''),
        connectTimeoutMillis: 1_000,
      }),
    ]),
  );
  const warehouse = services.warehouseClient();
  const router = new ShardRouter(services.shardMap);
  const notifications: Notification[] = [];
  const etl: LocalEtlOptions = {
    shards,
    warehouse,
    settings: SETTINGS,
    retryIntervals: RETRY_WAITS,
    notify: (n) => notifications.push(n),
  };
  /** Applies traffic to the shards as the consumer does. */
  const apply = async (traffic: readonly Envelope[]) => {
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
  };
  const onShards = async () => {
    const all = new Map<string, number>();
    for (const shard of services.shardMap.shards) {
      const client = services.shardClient(shard.id);
      try {
        for (const [id, n] of await eventCounts(
          client,
          'SELECT customer_id, event_count::int AS n FROM customers',
        ))
          all.set(id, n);
      } finally {
        await client.close();
      }
    }
    return all;
  };
  const inWarehouse = () =>
    eventCounts(warehouse, 'SELECT customer_id, event_count::int AS n FROM dim_customer');
  try {
    const customers = Math.max(1, Math.round(events / 4));
    const first = generateTraffic({
      events: Math.round(events / 2),
      customers,
      customerPrefix: 'etl',
      erasureRate: 0.05,
    });
    const second = generateTraffic({
      events,
      customers,
      customerPrefix: 'etl',
      seed: 7,
      erasureRate: 0.05,
    }).slice(Math.round(events / 2));
    let offered = 0;
    let failedBatches = 0;
    let failedRuns = 0;
    let stale = 0;
    const recorder = new Recorder(async () => {
      const [shardRows, warehouseRows] = [await onShards(), await inWarehouse()];
      stale = [...shardRows].filter(([id, n]) => warehouseRows.get(id) !== n).length;
      return {
        offered,
        applied: [...warehouseRows.values()].reduce((a, b) => a + b, 0),
        errors: failedRuns,
        lag: stale,
        degraded: failedBatches,
      };
    }, 1_000);
    recorder.start();
    progress(`applying ${first.length} events and loading the first batch`);
    await apply(first);
    offered += first.length;
    const ok = await runEtlLocally(etl);
    if (ok.status !== 'SUCCEEDED') throw new Error(`the first batch failed: ${ok.error}: ${ok.cause}`);
    const firstBatch = (ok.output as { batchId: string }).batchId;

    // More changes arrive; the faulty shard refuses the ETL through the whole next batch.
    progress(`${FAULTY} refuses the ETL; the next batch fails`);
    await apply(second);
    offered += second.length;
    recorder.faultStarted(`${FAULTY} refuses the ETL`);
    await proxy.reset();
    const failed = await runEtlLocally(etl);
    const { rows } = await warehouse.query<{ batch_id: string }>(
      `SELECT batch_id FROM etl_batches WHERE status = 'FAILED'`,
    );
    failedBatches = rows.length;
    if (failed.status === 'FAILED') failedRuns += 1;
    await sleep(downMillis);
    await proxy.heal();
    recorder.faultEnded();

    // The scheduled recovery job re-runs the failed batch.
    progress(`${FAULTY} back; the recovery job re-runs the failed batch`);
    const starter = new LocalBatchStarter(etl);
    const report = await recoverBatches({ warehouse, starter, settings: etlSettings({ maxRetries: 3 }) });
    const { rows: left } = await warehouse.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM etl_batches WHERE status = 'FAILED'`,
    );
    failedBatches = left[0]?.n ?? 0;
    if (failedBatches === 0 && starter.executions.every((e) => e.result.status === 'SUCCEEDED'))
      recorder.mark('re-run succeeded');
    const recoveredAt = recorder.markOf('re-run succeeded');
    const timeline = await recorder.stop();

    // Validate the warehouse against the shards, row by row.
    const [shardRows, warehouseRows] = [await onShards(), await inWarehouse()];
    const missing = [...shardRows.keys()].filter((id) => !warehouseRows.has(id));
    const staleRows = [...shardRows].filter(
      ([id, n]) => warehouseRows.has(id) && warehouseRows.get(id) !== n,
    );
    const extra = [...warehouseRows.keys()].filter((id) => !shardRows.has(id));
    const loaded = [...warehouseRows.values()].reduce((a, b) => a + b, 0);
    const expected = [...shardRows.values()].reduce((a, b) => a + b, 0);
    const problems: string[] = [];
    if (failed.status !== 'FAILED') problems.push(`the batch with ${FAULTY} down ended ${failed.status}`);
    if (notifications.length !== 1)
      problems.push(`${notifications.length} failure notifications, expected 1`);
    if (missing.length > 0)
      problems.push(
        `${missing.length} customers missing from the warehouse: ${missing.slice(0, 3).join(', ')}`,
      );
    if (staleRows.length > 0) problems.push(`${staleRows.length} warehouse rows stale after the re-run`);
    if (extra.length > 0) problems.push(`${extra.length} warehouse rows of no shard's customer`);
    return score({
      scenario: 'etl-failure',
      section: 9,
      title: 'The ETL pipeline fails',
      backend:
        'the ETL state machine (step-functions/etl.asl.json) on PostgreSQL (3 shards, one behind a fault proxy) and the warehouse',
      counts: {
        offered,
        accepted: offered,
        applied: loaded,
        lost: Math.max(0, expected - loaded),
        duplicateEffects: Math.max(0, loaded - expected),
        deadLettered: 0,
      },
      alarm: {
        name: 'FailedBatchesAlarm (FailedBatches > 0)',
        series: 'degraded',
        comparison: '>',
        threshold: 0,
        datapoints: 1,
      },
      bound: {
        description: `the recovery job's re-run loads the failed batch within ${RECOVER_WITHIN_SECONDS} s`,
        recoverWithinSeconds: RECOVER_WITHIN_SECONDS,
      },
      affectedPath: 'ETL batch',
      timeline,
      faults: recorder.faults,
      recoveredAt,
      wallSeconds: (performance.now() - started) / 1_000,
      problems,
      details: {
        firstBatch,
        failedBatch: { status: failed.status, error: failed.status === 'FAILED' ? failed.error : undefined },
        notifications,
        recovery: {
          failedBatches: report.failedBatches,
          started: report.started.length,
          exhausted: report.exhausted.length,
        },
        rerun: starter.executions.map((e) => e.result.status),
        missing,
        stale: staleRows.map(([id]) => id),
        extra,
      },
    });
  } finally {
    await Promise.all([...shards.values()].map((c) => c.close()));
    await warehouse.close();
    await proxy.close();
    await services.stop();
  }
}
