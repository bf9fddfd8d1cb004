import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bucketOf } from '../lambdas/shared/sharding/index.js';
import { type PgSqlClient, SqlJson } from '../lambdas/shared/sql/index.js';
import { LOCAL_TOPIC, LocalConsumer } from '../local/consumer/LocalConsumer.js';
import { LocalLog } from '../local/log/index.js';
import { LocalDataServices } from '../local/platform/LocalDataServices.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { publishToLog } from '../local/traffic/publishToLog.js';

const RAW_BATCH = 500;

/** The baseline: the same number of rows upserted in batches of 500 straight into one shard's table. */
async function rawUpsert(client: PgSqlClient, rows: number): Promise<number> {
  const started = performance.now();
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
    await client.query(
      `INSERT INTO customers AS c (customer_id, bucket, email, email_at, event_count, last_event_id, last_event_at)
       SELECT r.id, r.bucket, r.email, r.at::timestamptz, 1, gen_random_uuid(), r.at::timestamptz
       FROM jsonb_to_recordset(:rows::jsonb) AS r(id text, bucket integer, email text, at text)
       ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, email_at = EXCLUDED.email_at,
         event_count = c.event_count + 1, last_event_at = EXCLUDED.last_event_at`,
      { rows: new SqlJson(dedupeById(batch)) },
    );
  }
  return rows / ((performance.now() - started) / 1000);
}

const dedupeById = <T extends { id: string }>(rows: T[]): T[] => [
  ...new Map(rows.map((r) => [r.id, r])).values(),
];

/**
 * The same consumer on a real single-node Kafka cluster: the events published first by the platform's
 * producer, then consumed by the mapping's consumer group. Returns events per second of the consumption.
 */
async function throughKafka(
  services: LocalDataServices,
  options: { events: number; customers: number; partitions: number; concurrency: number; batchSize: number },
): Promise<number> {
  const { KafkaCluster } = await import('../local/services/KafkaCluster.js');
  const { KafkaStream } = await import('../local/stream/index.js');
  const cluster = await KafkaCluster.start({ nodes: 1, name: 'bench-consumer' });
  const stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'bench' });
  try {
    await stream.createTopic(LOCAL_TOPIC, options.partitions);
    // Another seed and prefix than the local-log run: its event ids would be duplicates to the consumer.
    const traffic = generateTraffic({
      events: options.events,
      customers: options.customers,
      seed: 4242,
      customerPrefix: 'bench-kafka',
    });
    const publisher = stream.publisher('bench-producer');
    for (let i = 0; i < traffic.length; i += 1_000)
      await publisher.publish(LOCAL_TOPIC, traffic.slice(i, i + 1_000));
    await publisher.close();
    const local = await LocalConsumer.create({
      stream,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
      concurrency: options.concurrency,
      mapping: { batchSize: options.batchSize },
      settings: { maxEventsPerTransaction: options.batchSize },
      logLevel: 'ERROR',
    });
    const started = performance.now();
    await local.drain();
    const rate = options.events / ((performance.now() - started) / 1000);
    await local.close();
    return rate;
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
  const events = Number(values.events);
  const shards = Number(values.shards);
  console.log(`consumer bench: ${events} events, ${values.customers} customers, ${shards} shards`);
  const services = await LocalDataServices.start({ shards, name: 'bench' });
  const dir = await mkdtemp(join(tmpdir(), 'cdp-bench-'));
  try {
    const log = await LocalLog.open(dir);
    await log.createTopic(LOCAL_TOPIC, Number(values.partitions));
    const traffic = generateTraffic({ events, customers: Number(values.customers), customerPrefix: 'bench' });
    await publishToLog(log, LOCAL_TOPIC, traffic);

    const local = await LocalConsumer.create({
      stream: log,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
      concurrency: Number(values.concurrency),
      mapping: { batchSize: Number(values['batch-size']) },
      settings: { maxEventsPerTransaction: Number(values['batch-size']) },
      logLevel: 'ERROR',
    });
    const started = performance.now();
    await local.drain();
    const consumerRate = events / ((performance.now() - started) / 1000);
    await local.close();

    const client = services.shardClient('shard-0');
    const rawRate = await rawUpsert(client, events);
    await client.close();

    console.log(
      `full consumer path (log → ESM emulator → handler → Redis + 4 shards): ${consumerRate.toFixed(0)} events/s`,
    );
    console.log(
      `raw batched upsert (${RAW_BATCH} rows/statement, one connection, same PostgreSQL): ${rawRate.toFixed(0)} rows/s`,
    );
    console.log(`ratio: ${(consumerRate / rawRate).toFixed(2)} (target >= 0.5)`);
    if (values.kafka) {
      const kafkaRate = await throughKafka(services, {
        events,
        customers: Number(values.customers),
        partitions: Number(values.partitions),
        concurrency: Number(values.concurrency),
        batchSize: Number(values['batch-size']),
      });
      console.log(
        `full consumer path through a real Kafka broker (consumer group → handler → Redis + 4 shards): ` +
          `${kafkaRate.toFixed(0)} events/s; local log ${consumerRate.toFixed(0)} events/s in the same run`,
      );
    }
  } finally {
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
