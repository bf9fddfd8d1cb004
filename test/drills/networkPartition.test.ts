import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { parseShardMap, type ShardMap } from '../../lambdas/shared/sharding/index.js';
import { LOCAL_DLQ_TOPIC, LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { indexMismatches, snapshotShards } from '../../local/drills/support/shardState.js';
import { FaultProxy } from '../../local/faults/index.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { sleep, waitFor } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { publishToLog } from '../../local/traffic/publishToLog.js';
import { runReconciliationLocally } from '../../local/workflows/reconciliation.js';

const PARTITIONS = 12;
const EVENTS = 12_000;
const CUSTOMERS = 1_500;
const PUBLISHED_UP_FRONT = 2_000;
const APPEND_CHUNK = 200;
const APPEND_EVERY_MILLIS = 100;
/** The consumer's database connections are cut once this many events are applied. */
const CUT_AFTER_APPLIED = 3_000;
const CUT_MILLIS = 10_000;

describe('network partition drill: the consumer loses its database connections for 10 s mid-load', () => {
  let services: LocalDataServices;
  let proxy: FaultProxy;
  let dir: string;
  /** The shard map the consumer uses: every shard through the fault proxy. */
  let partitionedMap: ShardMap;
  const publisher = { stopped: false, done: Promise.resolve() };

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'partition' });
    const first = new URL(services.shardMap.shards[0]?.url ?? '');
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(first.port) });
    partitionedMap = parseShardMap({
      ...services.shardMap,
      shards: services.shardMap.shards.map((s) => ({ ...s, url: proxy.via(s.url ?? '') })),
    });
    dir = await mkdtemp(join(tmpdir(), 'cdp-partition-'));
  });

  afterAll(async () => {
    publisher.stopped = true;
    await publisher.done.catch(() => undefined);
    await proxy?.close();
    await services?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('retries with backoff through the cut, loses no event, and the reconciliation afterwards finds no inconsistency', async () => {
    // Prepare: part of the traffic is published, the rest keeps arriving while the consumer runs.
    const log = await LocalLog.open(join(dir, 'log'));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({
      events: EVENTS,
      customers: CUSTOMERS,
      seed: 88,
      customerPrefix: 'partition',
    });
    await publishToLog(log, LOCAL_TOPIC, traffic.slice(0, PUBLISHED_UP_FRONT));
    const local = await LocalConsumer.create({
      stream: log,
      shardMap: partitionedMap,
      redisUrl: services.redis?.url,
    });
    let published = PUBLISHED_UP_FRONT;
    publisher.done = (async () => {
      while (published < EVENTS && !publisher.stopped) {
        const next: Envelope[] = traffic.slice(published, published + APPEND_CHUNK);
        await publishToLog(log, LOCAL_TOPIC, next);
        published += next.length;
        await sleep(APPEND_EVERY_MILLIS);
      }
    })();
    publisher.done.catch(() => undefined);
    await local.start();
    try {
      await waitFor(() => local.consumer.totals.applied >= CUT_AFTER_APPLIED, {
        timeoutMs: 60_000,
        intervalMs: 20,
        description: `${CUT_AFTER_APPLIED} events applied before the cut`,
      });

      // Act: every database connection of the consumer is reset and new ones are refused for 10 s.
      const before = { ...local.consumer.totals };
      const appliedAtCut = before.applied;
      const retriesBefore = local.emulator.stats().retries + local.retryEmulator.stats().retries;
      const cutAt = performance.now();
      await proxy.cut(CUT_MILLIS);
      const healedAt = performance.now();
      const appliedDuringCut = local.consumer.totals.applied - appliedAtCut;
      await publisher.done;
      await local.drain({ timeoutMillis: 120_000 });
      const caughtUpAt = performance.now();
      const stats = [local.emulator.stats(), local.retryEmulator.stats()];
      const totals = { ...local.consumer.totals };
      await local.close();
      const reconciliation = await runReconciliationLocally({
        stream: log,
        shardMap: services.shardMap,
        redisUrl: services.redis?.url ?? '',
        settings: { settleSeconds: 0 },
      });

      // Assess
      const retries = stats.reduce((n, s) => n + s.retries, 0) - retriesBefore;
      console.info(
        `network partition drill: ${JSON.stringify({
          events: EVENTS,
          cutMillis: Math.round(healedAt - cutAt),
          appliedAtCut,
          appliedDuringCut,
          eventsFailedAndRedelivered: totals.failed - before.failed,
          invocationRetries: retries,
          partialFailures: stats.reduce((n, s) => n + s.partialFailures, 0),
          catchUpMillisAfterHeal: Math.round(caughtUpAt - healedAt),
          consumerTotals: totals,
          retryTopicRecords: stats[1]?.recordsCommitted,
          reconciliation: reconciliation.report?.totals,
        })}`,
      );
      expect(healedAt - cutAt).toBeGreaterThanOrEqual(CUT_MILLIS - 50);
      expect(totals.failed - before.failed).toBeGreaterThan(0);
      expect(retries).toBeGreaterThan(0);
      expect(await log.endOffset(LOCAL_DLQ_TOPIC, 0)).toBe(0);
      const snapshot = await snapshotShards(services);
      const expected = expectedState(traffic);
      expect(snapshot.appliedEvents).toBe(EVENTS);
      expect(snapshot.eventCountSum).toBe(EVENTS);
      expect(snapshot.customers.size).toBe(expected.size);
      for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
      expect(await indexMismatches(services.redis?.url ?? '', expected)).toEqual([]);
      expect(reconciliation.result.status).toBe('SUCCEEDED');
      expect(reconciliation.report?.complete).toBe(true);
      expect(reconciliation.report?.totals).toEqual({
        missing: 0,
        stale: 0,
        extra: 0,
        conflicts: 0,
        repaired: 0,
        gapEvents: 0,
        replayed: 0,
        poison: 0,
      });
      expect(reconciliation.report?.shards.reduce((n, s) => n + (s.eventsChecked ?? 0), 0)).toBe(EVENTS);
    } finally {
      await local.close().catch(() => undefined);
    }
  });
});
