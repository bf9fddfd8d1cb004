import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WiredConsumer, wireConsumer } from '../../lambdas/consumer/dependencies.js';
import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { parseShardMap, ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import { PostgresServer } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { mskEvent, mskRecord } from '../support/events.js';
import { MemoryDeadLetters } from '../support/memoryDeadLetters.js';

const TOPIC = 'customer-events.v1';

async function migrated(url: string, name: string): Promise<void> {
  const client = new PgSqlClient({ name, connectionString: url });
  await migrateShard(client);
  await client.close();
}

async function count(url: string, sql: string): Promise<number> {
  const client = new PgSqlClient({ name: 'check', connectionString: url });
  try {
    const { rows } = await client.query<{ n: number }>(sql);
    return rows[0]?.n ?? 0;
  } finally {
    await client.close();
  }
}

describe('a failed shard on real PostgreSQL', () => {
  let healthy: PostgresServer;
  let failing: PostgresServer;
  let urls: string[];
  let wired: WiredConsumer;

  beforeAll(async () => {
    [healthy, failing] = await Promise.all([
      PostgresServer.start({ name: 'shards-0-2' }),
      PostgresServer.start({ name: 'shard-3' }),
    ]);
    urls = [...(await healthy.createShardDatabases(3)), ...(await failing.createShardDatabases(1, 'lonely'))];
    await Promise.all(urls.map((url, i) => migrated(url, `shard-${i}`)));
    wired = await wireConsumer({
      shardMap: parseShardMap({ version: 1, shards: urls.map((url, i) => ({ id: `shard-${i}`, url })) }),
      deadLetters: new MemoryDeadLetters(),
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'consumer' }),
      settings: { shardRetryAttempts: 1, shardRetryInitialDelayMillis: 10 },
      maxConnectionsPerShard: 2,
    });
  });

  afterAll(async () => {
    await wired?.close();
    await Promise.all([healthy?.destroy(), failing?.destroy()]);
  });

  it('fails only the records of the failed shard, keeps the others flowing, and catches up after recovery', async () => {
    const traffic = generateTraffic({ events: 1_200, customers: 200, seed: 3, customerPrefix: 'isolation' });
    const router = new ShardRouter(
      parseShardMap({ version: 1, shards: urls.map((_, i) => ({ id: `shard-${i}` })) }),
    );
    const records = traffic.map((e, i) => mskRecord(TOPIC, i % 3, Math.floor(i / 3), e));
    const onFailedShard = traffic.filter((e) => router.shardFor(e.customerId).id === 'shard-3').length;
    await failing.stop('immediate');

    const during = await wired.consumer.handle(mskEvent(records));

    // Every partition resumes at its first record that belongs to shard-3; nothing earlier is redelivered.
    const expectedResume = [0, 1, 2].map((p) => {
      const first = records.find(
        (r, i) => r.partition === p && router.shardFor(traffic[i]?.customerId ?? '').id === 'shard-3',
      );
      return { itemIdentifier: { partition: `${TOPIC}-${p}`, offset: first?.offset } };
    });
    expect(during.batchItemFailures).toEqual(expectedResume);
    const appliedElsewhere = await Promise.all(
      urls.slice(0, 3).map((url) => count(url, 'SELECT count(*)::int AS n FROM applied_events')),
    );
    expect(appliedElsewhere.reduce((a, b) => a + b, 0)).toBe(traffic.length - onFailedShard);

    await failing.start();
    const redelivered = records.filter((r) =>
      during.batchItemFailures.some(
        (f) =>
          f.itemIdentifier.partition === `${TOPIC}-${r.partition}` && r.offset >= f.itemIdentifier.offset,
      ),
    );
    const after = await wired.consumer.handle(mskEvent(redelivered));

    expect(after.batchItemFailures).toEqual([]);
    expect(await count(urls[3] ?? '', 'SELECT count(*)::int AS n FROM applied_events')).toBe(onFailedShard);
    const total = await Promise.all(
      urls.map((url) => count(url, 'SELECT sum(event_count)::int AS n FROM customers')),
    );
    expect(total.reduce((a, b) => a + b, 0)).toBe(traffic.length);
  });
});
