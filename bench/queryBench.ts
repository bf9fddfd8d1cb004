import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { wireQueryService } from '../lambdas/query/dependencies.js';
import { applyEventsToShard } from '../lambdas/shared/customers/applyEventsToShard.js';
import { decodeEvent, type Envelope } from '../lambdas/shared/events/index.js';
import { IndexWarmer } from '../lambdas/shared/query/index.js';
import { ShardRouter } from '../lambdas/shared/sharding/index.js';
import { LocalDataServices } from '../local/platform/LocalDataServices.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { percentile } from './percentile.js';

async function loadShards(services: LocalDataServices, traffic: Envelope[]): Promise<void> {
  const router = new ShardRouter(services.shardMap);
  for (const shard of services.shardMap.shards) {
    const client = services.shardClient(shard.id);
    const mine = traffic.filter((e) => router.shardFor(e.customerId).id === shard.id);
    for (let i = 0; i < mine.length; i += 1_000) {
      const chunk = mine.slice(i, i + 1_000).map((e) => ({
        event: decodeEvent(Buffer.from(JSON.stringify(e)).toString('base64')),
      }));
      await applyEventsToShard(client, chunk, (id) => router.bucketOf(id));
    }
    await client.close();
  }
}

/** Look-ups by email from `workers` concurrent callers; every email is asked once (no cache effects). */
async function measure(lookup: (email: string) => Promise<unknown>, emails: string[], workers: number) {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < emails.length; i = next++) {
        const started = performance.now();
        if ((await lookup(emails[i] ?? '')) === null) throw new Error(`not found: ${emails[i]}`);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

export async function runBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      customers: { type: 'string', default: '10000' },
      lookups: { type: 'string', default: '3000' },
      workers: { type: 'string', default: '8' },
    },
  });
  const customers = Number(values.customers);
  const lookups = Math.min(Number(values.lookups), customers);
  const workers = Number(values.workers);
  console.log(
    `query bench: ${customers} customers over 4 shards, ${lookups} look-ups by email, ${workers} callers`,
  );
  const services = await LocalDataServices.start({ shards: 4, name: 'query-bench' });
  try {
    const traffic = generateTraffic({
      events: customers,
      customers,
      customerPrefix: 'qbench',
      erasureRate: 0,
    });
    await loadShards(services, traffic);
    const emails = traffic.slice(0, lookups).map((e) => String((e.payload as { email: string }).email));
    const logger = new Logger({ serviceName: 'query', logLevel: 'ERROR' });
    const metrics = new Metrics({ namespace: 'CustomerDataPlatform', serviceName: 'query' });

    const indexed = await wireQueryService({
      shardMap: services.shardMap,
      redis: { url: services.redis?.url ?? '' },
      logger,
      metrics,
    });
    if (!indexed.redis) throw new Error('redis expected');
    await new IndexWarmer({
      redis: indexed.redis,
      shards: indexed.shards,
      logger,
      metrics,
    }).warmUntilComplete({
      ratePerSecond: 1_000_000,
    });
    const viaIndex = await measure((email) => indexed.service.findByEmail(email), emails, workers);
    await indexed.close();

    // No Redis: every look-up is a scatter-gather over the 4 shards (distinct emails: the cache never hits).
    const fallback = await wireQueryService({ shardMap: services.shardMap, logger, metrics });
    const viaFallback = await measure((email) => fallback.service.findByEmail(email), emails, workers);
    await fallback.close();

    const line = (name: string, l: number[]) =>
      `${name}: p50 ${percentile(l, 50).toFixed(2)} ms, p99 ${percentile(l, 99).toFixed(2)} ms (${l.length} look-ups)`;
    console.log(line('through the Redis index', viaIndex));
    console.log(line('through the fallback (scatter-gather, 4 shards)', viaFallback));
  } finally {
    await services.stop();
  }
}
