import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ShardRouter } from '../lambdas/shared/sharding/index.js';
import { type SqlClient, sqlClientFor } from '../lambdas/shared/sql/index.js';
import { LOCAL_TOPIC, LocalConsumer } from '../local/consumer/LocalConsumer.js';
import type { MskHandler } from '../local/esm/index.js';
import { LocalLog } from '../local/log/index.js';
import { LocalDataServices } from '../local/platform/LocalDataServices.js';
import type { LocalStream } from '../local/stream/index.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { publishToLog } from '../local/traffic/publishToLog.js';
import {
  decodeInvocations,
  handlerDirect,
  invocationsOf,
  mskEventsOf,
  RAW_BATCH,
  rawUpsert,
  shardTransactions,
  warmUp,
  wireBenchConsumer,
} from './consumerStages.js';
import { measure, printRatio, printStage, type StageFigures, timed } from './measure.js';

interface Options {
  readonly events: number;
  readonly customers: number;
  readonly partitions: number;
  readonly concurrency: number;
  readonly batchSize: number;
}

/** Times each invocation of the handler, as an alias between the mapping and the function would see it. */
const timing =
  (latency: RecordableHistogram) =>
  (handler: MskHandler): MskHandler =>
  (event, context) =>
    timed(latency, () => handler(event, context));

/**
 * (d) The full path: traffic already published to the events topic, drained by the event source and the
 * handler, measured from a warm consumer.
 */
async function fullPath(
  name: string,
  stream: LocalStream | LocalLog,
  services: LocalDataServices,
  options: Options,
): Promise<StageFigures> {
  const latency = createHistogram();
  const local = await LocalConsumer.create({
    stream,
    shardMap: services.shardMap,
    redisUrl: services.redis?.url,
    concurrency: options.concurrency,
    mapping: { batchSize: options.batchSize },
    settings: { maxEventsPerTransaction: options.batchSize },
    logLevel: 'ERROR',
    route: timing(latency),
  });
  try {
    await warmUp(local.consumer);
    return await measure(
      name,
      services.redis?.url,
      async () => {
        await local.drain();
        const t = local.consumer.totals;
        const handled = t.applied + t.stale + t.duplicates;
        if (handled !== options.events)
          throw new Error(`the full path handled ${handled} of ${options.events}`);
        return handled;
      },
      latency,
    );
  } finally {
    await local.close();
  }
}

/** The full path on a real single-node Kafka cluster: published first, then consumed by the mapping's group. */
async function throughKafka(services: LocalDataServices, options: Options): Promise<StageFigures> {
  const { KafkaCluster } = await import('../local/services/KafkaCluster.js');
  const { KafkaStream } = await import('../local/stream/index.js');
  const cluster = await KafkaCluster.start({ nodes: 1, name: 'bench-consumer' });
  const stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'bench' });
  try {
    await stream.createTopic(LOCAL_TOPIC, options.partitions);
    const traffic = generateTraffic({ ...options, seed: 4242, customerPrefix: 'bench-kafka' });
    const publisher = stream.publisher('bench-producer');
    for (let i = 0; i < traffic.length; i += 1_000)
      await publisher.publish(LOCAL_TOPIC, traffic.slice(i, i + 1_000));
    await publisher.close();
    const stage = await fullPath(
      '(d) full path on Kafka (consumer group → handler)',
      stream,
      services,
      options,
    );
    return stage;
  } finally {
    await stream.close();
    await cluster.destroy();
  }
}

export async function runBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string', default: '20000' },
      customers: { type: 'string', default: '4000' },
      shards: { type: 'string', default: '4' },
      partitions: { type: 'string', default: '12' },
      concurrency: { type: 'string', default: '4' },
      'batch-size': { type: 'string', default: '500' },
      kafka: { type: 'boolean', default: false },
    },
  });
  const options: Options = {
    events: Number(values.events),
    customers: Number(values.customers),
    partitions: Number(values.partitions),
    concurrency: Number(values.concurrency),
    batchSize: Number(values['batch-size']),
  };
  const shards = Number(values.shards);
  console.log(
    `consumer bench: ${options.events} events per stage, ${options.customers} customers, ${shards} shards, ` +
      `${options.partitions} partitions, ${options.concurrency} pollers, batches of ${options.batchSize}`,
  );
  const services = await LocalDataServices.start({ shards, name: 'bench' });
  const redisUrl = services.redis?.url;
  const dir = await mkdtemp(join(tmpdir(), 'cdp-bench-'));
  const router = new ShardRouter(services.shardMap);
  const clients = new Map<string, SqlClient>(router.shards.map((s) => [s.id, sqlClientFor(s)]));
  try {
    const log = await LocalLog.open(dir);
    // Every stage gets traffic of its own (own customers, own event ids), prepared before it is timed.
    const cut = (topic: string, seed: number) => invocationsOf(log, { ...options, topic, seed });
    const decoded = decodeInvocations(router, await cut('bench-sql', 11));
    const events = mskEventsOf(await cut('bench-handler', 12));
    await log.createTopic(LOCAL_TOPIC, options.partitions);
    await publishToLog(
      log,
      LOCAL_TOPIC,
      generateTraffic({ ...options, seed: 13, customerPrefix: 'bench-full' }),
    );

    const rawClient = services.shardClient('shard-0');
    const raw = await measure(
      `(a) raw batched upsert (${RAW_BATCH} rows/statement, one connection)`,
      redisUrl,
      (h) => rawUpsert(rawClient, options.events, h),
    ).finally(() => rawClient.close());
    const floor = await measure('(b) shard transactions, pre-decoded events (SQL floor)', redisUrl, (h) =>
      shardTransactions(router, clients, decoded, options.concurrency, h),
    );
    const wired = await wireBenchConsumer(services.shardMap, redisUrl, options.batchSize);
    await warmUp(wired.consumer);
    const handler = await measure('(c) handler fed MSK events directly', redisUrl, (h) =>
      handlerDirect(wired.consumer, events, options.concurrency, h),
    ).finally(() => wired.close());
    const full = await fullPath(
      '(d) full path on the local log (event source → handler)',
      log,
      services,
      options,
    );

    console.log('stages (PostgreSQL and Redis run in their own processes; CPU is this Node process only):');
    printStage(raw, 'event', 'statement');
    printStage(floor, 'event', 'shard transaction');
    printStage(handler, 'event', 'invocation');
    printStage(full, 'event', 'invocation');
    console.log('ratios:');
    printRatio('full path ÷ raw upsert', full, raw, 0.5);
    printRatio('full path ÷ SQL floor', full, floor, 0.8);
    printRatio('SQL floor ÷ raw upsert', floor, raw);
    printRatio('handler ÷ SQL floor', handler, floor);
    printRatio('full path ÷ handler', full, handler);
    if (values.kafka) {
      const kafka = await throughKafka(services, options);
      printStage(kafka, 'event', 'invocation');
      printRatio('full path on Kafka ÷ raw upsert', kafka, raw, 0.5);
      printRatio('full path on Kafka ÷ SQL floor', kafka, floor, 0.8);
      printRatio('full path on Kafka ÷ on the local log', kafka, full);
    }
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close()));
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
