import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_GROUP, LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { exited, startConsumerProcess } from '../../local/drills/support/consumerProcesses.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { waitFor } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { publishToLog } from '../../local/traffic/publishToLog.js';

const PARTITIONS = 12;

describe('consumer drills on real PostgreSQL (4 shards) and Redis', () => {
  let services: LocalDataServices;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'drill' });
    dir = await mkdtemp(join(tmpdir(), 'cdp-drill-'));
  });

  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await services?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies 20,000 events over 4 shards with exactly one effect each', async () => {
    const log = await LocalLog.open(join(dir, 'exact'));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({ events: 20_000, customers: 2_000, seed: 11, customerPrefix: 'exact' });
    await publishToLog(log, LOCAL_TOPIC, traffic);
    const local = await LocalConsumer.create({
      stream: log,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
    });

    await local.drain({ timeoutMillis: 120_000 });
    await local.close();

    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith('exact-'));
    expect(mine).toHaveLength(2_000);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(20_000);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
    expect(Object.values(await log.lag(LOCAL_GROUP, LOCAL_TOPIC)).every((lag) => lag === 0)).toBe(true);
  });

  it('loses and duplicates nothing when the consumer process is SIGKILLed mid-batch and restarted', async () => {
    const logDir = join(dir, 'crash');
    const log = await LocalLog.open(logDir);
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({ events: 12_000, customers: 1_500, seed: 23, customerPrefix: 'crash' });
    await publishToLog(log, LOCAL_TOPIC, traffic);
    const env = {
      CDP_LOG_DIR: logDir,
      CDP_PARTITIONS: String(PARTITIONS),
      CDP_SHARD_MAP: JSON.stringify(services.shardMap),
      CDP_REDIS_URL: services.redis?.url ?? '',
    };

    // Act 1: crash while batches are in flight.
    const first = startConsumerProcess(env);
    children.push(first.child);
    await waitFor(() => (first.progress.at(-1)?.recordsCommitted ?? 0) >= 3_000, {
      timeoutMs: 60_000,
      description: 'the first consumer to commit 3,000 records',
    });
    first.child.kill('SIGKILL');
    expect(await exited(first.child)).toBe('SIGKILL');
    const remainingAtCrash = Object.values(await log.lag(LOCAL_GROUP, LOCAL_TOPIC)).reduce(
      (a, b) => a + b,
      0,
    );

    // Act 2: a new execution environment resumes from the committed offsets.
    const second = startConsumerProcess(env);
    children.push(second.child);
    await waitFor(
      async () => Object.values(await log.lag(LOCAL_GROUP, LOCAL_TOPIC)).every((lag) => lag === 0),
      { timeoutMs: 120_000, intervalMs: 200, description: 'the restarted consumer to catch up' },
    );
    second.child.kill('SIGTERM');
    await exited(second.child);

    // Assess: every event has exactly one effect, the index agrees.
    expect(remainingAtCrash).toBeGreaterThan(0);
    const snapshot = await snapshotShards(services);
    const expected = expectedState(traffic);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith('crash-'));
    expect(mine).toHaveLength(1_500);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(12_000);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
  });
});
