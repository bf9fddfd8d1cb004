// Over 300 lines on purpose: a top-level script that runs the platform step by step and reports each step;
// splitting it would only move the steps away from the order they run in.
/**
 * `npm start`: runs the platform on this machine. Throwaway PostgreSQL (one database per shard, migrated)
 * and Redis, a durable local log playing MSK, sample customer traffic published to it, and the real
 * consumer Lambda fed by the MSK event-source emulator. Prints progress while it consumes and verifies
 * the result against the shards and the Redis index, then runs the workflows of `step-functions/` as
 * scheduled in AWS: one ETL batch into a local warehouse database, and a reconciliation.
 * With `--kafka` the topics live on a throwaway 3-node Apache Kafka cluster instead (Java and the broker
 * jars of `npm run kafka:fetch` needed), read by consumer groups as the Lambda mappings read MSK.
 *
 *   npm start -- --events 50000 --customers 5000 --shards 4 --partitions 12 --poison 5 --follow
 *   npm start -- --kafka
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    customers: { type: 'string', default: '2000' },
    shards: { type: 'string', default: '4' },
    partitions: { type: 'string', default: '12' },
    concurrency: { type: 'string', default: '4' },
    poison: { type: 'string', default: '3' },
    seed: { type: 'string', default: '42' },
    'data-dir': { type: 'string' },
    follow: { type: 'boolean', default: false },
    kafka: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(`Usage: npm start -- [options]
  --events N        sample events to publish (default 20000; 0 publishes none)
  --customers N     distinct customers in the sample (default 2000)
  --shards N        shard databases (default 4)
  --partitions N    partitions of customer-events.v1 (default 12)
  --concurrency N   partitions consumed in parallel (default 4)
  --poison N        invalid records mixed in, to show the dead-letter path (default 3)
  --seed N          traffic seed (default 42)
  --data-dir DIR    where the local log lives (default: a new temporary directory)
  --follow          keep consuming after the sample is done, until Ctrl-C
  --kafka           run the topics on a throwaway 3-node Apache Kafka cluster on loopback instead of the
                    embedded local log (needs Java 17 and \`npm run kafka:fetch\`)`);
  process.exit(0);
}

const count = (name: string, value: string | undefined, min: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be a whole number >= ${min}, got ${value}`);
    process.exit(2);
  }
  return n;
};
const events = count('events', args.events, 0);
const customers = count('customers', args.customers, 1);
const shards = count('shards', args.shards, 1);
const partitions = count('partitions', args.partitions, 1);
const concurrency = count('concurrency', args.concurrency, 1);
const poison = count('poison', args.poison, 0);
const seed = count('seed', args.seed, 0);

const { LocalDataServices } = await import('./platform/LocalDataServices.js');
const { LocalLog } = await import('./log/index.js');
const { LocalConsumer, LOCAL_DLQ_TOPIC, LOCAL_TOPIC } = await import('./consumer/LocalConsumer.js');
const { generateTraffic } = await import('./traffic/generateTraffic.js');
const { verifyPlatform } = await import('./platform/verifyPlatform.js');
const { LocalApis } = await import('./platform/LocalApis.js');
const { LocalLogStream } = await import('./stream/index.js');
const { runEtlLocally } = await import('./workflows/etl.js');
const { runReconciliationLocally } = await import('./workflows/reconciliation.js');
const { Logger } = await import('@aws-lambda-powertools/logger');
const { Metrics } = await import('@aws-lambda-powertools/metrics');

const fmt = (n: number) => n.toLocaleString('en-US');
const step = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  process.stdout.write(`  ${label} ... `);
  const result = await work();
  console.log(`done (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return result;
};

console.log('Customer data platform: local run');
const services = await step(
  `starting PostgreSQL (${shards} shard databases and a warehouse, migrated) and Redis`,
  () => LocalDataServices.start({ shards, name: 'cdp-start', warehouse: true }),
).catch((error: unknown) => {
  console.error(
    `\ncannot start the local data services: ${error instanceof Error ? error.message : String(error)}`,
  );
  console.error('PostgreSQL and Redis binaries are needed: apt-get install -y postgresql redis-server');
  process.exit(1);
});
const dataDir = args['data-dir'] ?? (await mkdtemp(join(tmpdir(), 'cdp-log-')));
const log = await LocalLog.open(dataDir);
const kafka = args.kafka ? await startKafka() : undefined;
const stream = kafka?.stream ?? new LocalLogStream(log);
await stream.createTopic(LOCAL_TOPIC, partitions);
console.log(
  kafka === undefined
    ? `  local log: ${dataDir} (${LOCAL_TOPIC}: ${partitions} partitions)`
    : `  ${stream.describe()} (${LOCAL_TOPIC}: ${partitions} partitions, RF 3, min ISR 2); spillover in ${dataDir}`,
);

const apiLogger = new Logger({ serviceName: 'api', logLevel: 'ERROR' });
const apis = await LocalApis.start({
  stream,
  spillLog: log,
  shardMap: services.shardMap,
  redisUrl: services.redis?.url,
  logger: apiLogger,
  metrics: new Metrics({ namespace: 'CustomerDataPlatform', serviceName: 'api' }),
});
console.log(
  `  HTTP API (API Gateway payload v2): ${apis.url}  POST /v1/events, /v1/events/batch; GET /v1/customers`,
);

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${apis.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.text() };
};
const rejected = await post('/v1/events/batch', { events: [] });
console.log(`  an empty batch is refused: ${rejected.status} ${rejected.body.slice(0, 100)}`);

const traffic = generateTraffic({ events, customers: Math.min(customers, Math.max(events, 1)), seed });
const BATCH = 100;
await step(
  `publishing ${fmt(traffic.length)} events for ${fmt(Math.min(customers, events))} customers through the ingest API`,
  async () => {
    const batches = Array.from({ length: Math.ceil(traffic.length / BATCH) }, (_, i) =>
      traffic.slice(i * BATCH, (i + 1) * BATCH),
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < batches.length; i = next++) {
          for (;;) {
            const answer = await post('/v1/events/batch', { events: batches[i] });
            if (answer.status === 202) break;
            if (answer.status !== 503)
              throw new Error(`ingest API answered ${answer.status}: ${answer.body}`);
            await new Promise((resolve) => setTimeout(resolve, 1_000));
          }
        }
      }),
    );
  },
);
if (poison > 0) {
  const bad = ['{"eventId": "truncated', 'not json at all', JSON.stringify({ type: 'customer.teleported' })];
  await stream.append(
    LOCAL_TOPIC,
    Array.from({ length: poison }, (_, i) => ({ key: `poison-${i}`, value: bad[i % bad.length] ?? '' })),
  );
  console.log(`  published ${poison} poison records (they must land in ${LOCAL_DLQ_TOPIC})`);
}

let lastLine = performance.now();
let lastCommitted = 0;
const started = performance.now();
const local = await LocalConsumer.create({
  stream,
  shardMap: services.shardMap,
  redisUrl: services.redis?.url,
  concurrency,
  progressIntervalMillis: 500,
  onProgress: (s) => {
    const now = performance.now();
    if (now - lastLine < 1_000 || s.recordsCommitted === lastCommitted) return;
    const rate = (s.recordsCommitted - lastCommitted) / ((now - lastLine) / 1000);
    lastLine = now;
    lastCommitted = s.recordsCommitted;
    const lag = Object.entries(s.lag).map(([p, n]) => `p${p}=${n}`);
    const t = local.consumer.totals;
    console.log(
      `  consumed ${fmt(s.recordsCommitted)} | ${fmt(Math.round(rate))} records/s | applied ${fmt(t.applied)}` +
        ` | duplicates ${fmt(t.duplicates)} | DLQ ${t.poison + t.conflicts + t.rejected + s.sentToDestination} | retries ${s.retries}` +
        ` | lag ${lag.join(' ')}`,
    );
  },
});

const shutdown = async (code: number) => {
  await apis.close();
  await local.close();
  await stream.close();
  await kafka?.cluster.destroy();
  await services.stop();
  process.exit(code);
};
process.once('SIGINT', () => void shutdown(130));
process.once('SIGTERM', () => void shutdown(143));

await local.drain();
const seconds = (performance.now() - started) / 1000;
const stats = local.emulator.stats();
const totals = local.consumer.totals;
console.log(
  `  consumed ${fmt(stats.recordsCommitted)} records in ${seconds.toFixed(1)} s ` +
    `(${fmt(Math.round(stats.recordsCommitted / seconds))} records/s), ${stats.invocations} invocations: ` +
    `${fmt(totals.applied)} applied, ${fmt(totals.stale)} stale, ${fmt(totals.duplicates)} duplicates, ` +
    `${totals.poison} poison, ${totals.conflicts} conflicts, ${totals.rejected} refused by the database, ` +
    `${totals.idempotencyBypassed} via the database guard alone`,
);
const report = await verifyPlatform(services, stream, traffic);
console.log(report.lines.map((l) => `  ${l}`).join('\n'));
const sample = services.shardClient('shard-0');
const someone = await sample.query<{ email: string }>(
  'SELECT email FROM customers WHERE email IS NOT NULL LIMIT 1',
);
await sample.close();
const email = someone.rows[0]?.email;
if (email) {
  const found = await fetch(`${apis.url}/v1/customers?email=${encodeURIComponent(email)}`);
  console.log(`  GET /v1/customers?email=${email} -> ${found.status} ${(await found.text()).slice(0, 120)}`);
}

// The workflows, as their schedules run them in AWS. The consumer has drained: no write is in flight, so
// the ETL window may end now instead of a settle interval ago.
const workflowsOk = await runWorkflows();

if (args.follow) {
  console.log(
    `  following ${LOCAL_TOPIC} on the ${stream.describe()}; the HTTP API stays at ${apis.url}; Ctrl-C to stop`,
  );
  console.log(`  try: curl -s '${apis.url}/v1/customers?email=${email ?? 'someone@example.com'}'`);
  await local.start();
} else {
  await shutdown(report.ok && workflowsOk ? 0 : 1);
}

/** A 3-node KRaft cluster on loopback with the environment's topics, made by the platform's topic reconciler. */
async function startKafka() {
  const { KafkaCluster } = await import('./services/KafkaCluster.js');
  const { KafkaStream } = await import('./stream/index.js');
  const { applyTopics, configuredTopics } = await import('./kafka/topics.js');
  const cluster = await step('starting a 3-node Apache Kafka cluster (KRaft) on loopback', () =>
    KafkaCluster.start({ nodes: 3, name: 'cdp-start' }),
  ).catch((error: unknown) => {
    console.error(`\ncannot start Kafka: ${error instanceof Error ? error.message : String(error)}`);
    console.error('Run without --kafka for the embedded local log (no Java needed).');
    process.exit(1);
  });
  const admin = await cluster.admin();
  try {
    await applyTopics(
      admin,
      configuredTopics('dev').map((topic) => (topic.name === LOCAL_TOPIC ? { ...topic, partitions } : topic)),
    );
  } finally {
    await admin.disconnect();
  }
  return { cluster, stream: new KafkaStream({ brokers: cluster.brokers }) };
}

async function runWorkflows(): Promise<boolean> {
  const shardClients = new Map(services.shardMap.shards.map((s) => [s.id, services.shardClient(s.id)]));
  const warehouse = services.warehouseClient();
  try {
    const etl = await step('ETL: one batch of step-functions/etl.asl.json into the warehouse', () =>
      runEtlLocally({ shards: shardClients, warehouse, settings: { settleSeconds: 0 } }),
    );
    const audit = await warehouse.query<{
      batch_id: string;
      status: string;
      source_rows: string;
      rows_written: string;
      checksum: string | null;
    }>(
      `SELECT batch_id, status, source_rows::text, rows_written::text, checksum
       FROM etl_batches ORDER BY window_end DESC LIMIT 1`,
    );
    const warehouseRows = await warehouse.query<{ n: number }>('SELECT count(*)::int AS n FROM dim_customer');
    const row = audit.rows[0];
    console.log(
      etl.status === 'SUCCEEDED'
        ? `  ETL batch ${row?.batch_id ?? '?'}: ${row?.status ?? '?'}, ${row?.source_rows ?? '?'} source rows, ` +
            `${row?.rows_written ?? '?'} written, ` +
            `checksum ${(row?.checksum ?? '').slice(0, 12)}…; warehouse holds ${fmt(warehouseRows.rows[0]?.n ?? 0)} customers`
        : `  ETL failed: ${etl.error}: ${etl.cause}`,
    );
    const reconciliation = await step('reconciliation: step-functions/reconciliation.asl.json', () =>
      runReconciliationLocally({
        stream,
        shardMap: services.shardMap,
        redisUrl: services.redis?.url ?? '',
        // Everything is consumed: the window may include the newest records instead of settling first.
        settings: { settleSeconds: 0 },
      }),
    );
    const totals = reconciliation.report?.totals;
    const checked = (reconciliation.report?.shards ?? []).reduce(
      (sum, shard) => ({
        rows: sum.rows + (shard.rows ?? 0),
        events: sum.events + (shard.eventsChecked ?? 0),
      }),
      { rows: 0, events: 0 },
    );
    console.log(
      totals
        ? `  reconciliation: ${reconciliation.result.status}; ${fmt(checked.rows)} rows and ${fmt(checked.events)} ` +
            `logged events checked; index missing ${totals.missing}, stale ${totals.stale}, ` +
            `extra ${totals.extra}; event gaps ${totals.gapEvents}; ${totals.poison} poison records (dead-lettered by design)`
        : `  reconciliation did not report: ${JSON.stringify(reconciliation.result)}`,
    );
    return etl.status === 'SUCCEEDED' && reconciliation.result.status === 'SUCCEEDED';
  } finally {
    await Promise.all([...shardClients.values(), warehouse].map((c) => c.close()));
  }
}
