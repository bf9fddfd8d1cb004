import { randomUUID } from 'node:crypto';
import type { RecordableHistogram } from 'node:perf_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MSKEvent } from 'aws-lambda';
import { type WiredConsumer, wireConsumer } from '../lambdas/consumer/dependencies.js';
import { applyEventsToShard, type PendingEvent } from '../lambdas/shared/customers/applyEventsToShard.js';
import { decodeEvent } from '../lambdas/shared/events/index.js';
import { bucketOf, type ShardMap, type ShardRouter } from '../lambdas/shared/sharding/index.js';
import { type PgSqlClient, type SqlClient, SqlJson } from '../lambdas/shared/sql/index.js';
import { createLambdaContext } from '../local/esm/lambdaContext.js';
import { buildMskEvent, LOCAL_EVENT_SOURCE } from '../local/esm/mskEvent.js';
import type { LocalLog, LogRecord } from '../local/log/index.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { publishToLog } from '../local/traffic/publishToLog.js';
import { timed } from './measure.js';

export const RAW_BATCH = 500;

/** The records of one partition that one invocation gets: consecutive, at most a batch. */
export interface Invocation {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly LogRecord[];
}

/**
 * Fresh traffic (its own customers and event ids) published to its own topic of the log, cut the way the
 * event source cuts it: per partition, consecutive records, `batchSize` at most per invocation.
 */
export async function invocationsOf(
  log: LocalLog,
  options: {
    topic: string;
    events: number;
    customers: number;
    partitions: number;
    batchSize: number;
    seed: number;
  },
): Promise<Invocation[][]> {
  await log.createTopic(options.topic, options.partitions);
  const traffic = generateTraffic({
    events: options.events,
    customers: options.customers,
    seed: options.seed,
    customerPrefix: options.topic,
  });
  await publishToLog(log, options.topic, traffic);
  const perPartition: Invocation[][] = [];
  for (let partition = 0; partition < options.partitions; partition++) {
    const list: Invocation[] = [];
    const end = await log.endOffset(options.topic, partition);
    for (let offset = 0; offset < end; offset += options.batchSize) {
      const records = await log.read(options.topic, partition, offset, options.batchSize);
      list.push({ topic: options.topic, partition, records });
    }
    perPartition.push(list);
  }
  return perPartition;
}

/**
 * Runs `concurrency` pollers as the event source does: each owns some partitions and handles their
 * invocations one after the other, in order.
 */
export async function poll<T>(
  perPartition: readonly (readonly T[])[],
  concurrency: number,
  handle: (item: T) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async (_, poller) => {
      for (let p = poller; p < perPartition.length; p += concurrency) {
        for (const item of perPartition[p] ?? []) await handle(item);
      }
    }),
  );
}

/** (a) The same number of rows upserted in batches of 500 straight into one shard's table, one connection. */
export async function rawUpsert(
  client: PgSqlClient,
  rows: number,
  latency: RecordableHistogram,
): Promise<number> {
  for (let i = 0; i < rows; i += RAW_BATCH) {
    const batch = Array.from({ length: Math.min(RAW_BATCH, rows - i) }, (_, j) => {
      const id = `raw-${(i + j) % Math.max(1, rows / 10)}`;
      return {
        id,
        bucket: bucketOf(id, 1024),
        email: `${id}.${i + j}@example.com`,
        at: new Date().toISOString(),
      };
    });
    await timed(latency, () =>
      client.query(
        `INSERT INTO customers AS c (customer_id, bucket, email, email_at, event_count, last_event_id, last_event_at)
         SELECT r.id, r.bucket, r.email, r.at::timestamptz, 1, gen_random_uuid(), r.at::timestamptz
         FROM jsonb_to_recordset(:rows::jsonb) AS r(id text, bucket integer, email text, at text)
         ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, email_at = EXCLUDED.email_at,
           event_count = c.event_count + 1, last_event_at = EXCLUDED.last_event_at`,
        { rows: new SqlJson([...new Map(batch.map((r) => [r.id, r])).values()]) },
      ),
    );
  }
  return rows;
}

/** Events decoded and grouped per shard per invocation beforehand, for {@link shardTransactions}. */
export type DecodedInvocation = ReadonlyMap<string, readonly PendingEvent[]>;

export function decodeInvocations(
  router: ShardRouter,
  perPartition: readonly (readonly Invocation[])[],
): DecodedInvocation[][] {
  return perPartition.map((list) =>
    list.map((inv) => {
      const byShard = new Map<string, PendingEvent[]>();
      for (const r of inv.records) {
        const event = decodeEvent(r.value?.toString('base64'), r.key?.toString('base64'));
        const shardId = router.shardFor(event.customerId).id;
        const pending = { event, source: { topic: inv.topic, partition: inv.partition, offset: r.offset } };
        const list = byShard.get(shardId) ?? [];
        list.push(pending);
        byShard.set(shardId, list);
      }
      return byShard;
    }),
  );
}

/**
 * (b) The consumer's SQL floor: its own shard transactions (`applyEventsToShard`), one per shard per
 * invocation as the handler groups them, on events decoded beforehand; no Redis, no idempotency, no index.
 */
export async function shardTransactions(
  router: ShardRouter,
  clients: ReadonlyMap<string, SqlClient>,
  decoded: readonly (readonly DecodedInvocation[])[],
  concurrency: number,
  latency: RecordableHistogram,
): Promise<number> {
  let events = 0;
  await poll(decoded, concurrency, async (byShard) => {
    await Promise.all(
      [...byShard].map(async ([shardId, pending]) => {
        const client = clients.get(shardId);
        if (client === undefined) throw new RangeError(shardId);
        await timed(latency, () => applyEventsToShard(client, pending, (id) => router.bucketOf(id)));
        events += pending.length;
      }),
    );
  });
  return events;
}

/** MSK events as Lambda would send them, built beforehand, for {@link handlerDirect}. */
export const mskEventsOf = (perPartition: readonly (readonly Invocation[])[]): MSKEvent[][] =>
  perPartition.map((list) =>
    list.map((inv) => buildMskEvent(LOCAL_EVENT_SOURCE, inv.topic, inv.partition, inv.records)),
  );

/**
 * (c) The consumer's handler fed MSK events directly: decode, Powertools idempotency on Redis, shard
 * transactions, index; no event source.
 */
export async function handlerDirect(
  consumer: WiredConsumer['consumer'],
  events: readonly (readonly MSKEvent[])[],
  concurrency: number,
  latency: RecordableHistogram,
): Promise<number> {
  let handled = 0;
  const identity = {
    functionName: 'cdp-bench-consumer',
    functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:cdp-bench-consumer',
    memoryLimitInMB: 1024,
  };
  await poll(events, concurrency, async (event) => {
    const context = createLambdaContext(identity, randomUUID(), Date.now() + 60_000);
    const response = await timed(latency, () => consumer.handle(event, context));
    if (response.batchItemFailures.length > 0) throw new Error('the handler failed records');
    for (const list of Object.values(event.records)) handled += list.length;
  });
  return handled;
}

/**
 * Takes the one-off work of a cold start out of a timed stage: the index repair a fresh consumer runs
 * first (rebuilding the index from rows written without it, such as the SQL floor's) until it is done.
 */
export async function warmUp(consumer: WiredConsumer['consumer']): Promise<void> {
  while (!(await consumer.repairIndex())) {
    // one bounded step per call
  }
}

/** The consumer as the Lambda wires it, on the bench's shards and Redis; dead letters dropped. */
export const wireBenchConsumer = (shardMap: ShardMap, redisUrl: string | undefined, batchSize: number) =>
  wireConsumer({
    shardMap,
    redis: redisUrl === undefined ? undefined : { url: redisUrl },
    deadLetters: { send: async () => undefined },
    logger: new Logger({ serviceName: 'consumer', logLevel: 'ERROR' }),
    metrics: new Metrics({ namespace: 'CustomerDataPlatform', serviceName: 'consumer' }),
    settings: { maxEventsPerTransaction: batchSize },
  });
