import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import {
  LOCAL_DLQ_TOPIC,
  LOCAL_GROUP,
  LOCAL_TOPIC,
  LocalConsumer,
} from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { type AppendMessage, LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream, LocalLogStream, type LocalStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { type Fate, hostileRecord, type MixedRecord, mixedCaseEvent } from '../support/hostileMix.js';
import { kafkaReady } from '../support/kafka.js';

const PARTITIONS = 12;
const VALID = 7_000;
const HOSTILE = 3_000;
const SAMPLE_MILLIS = 100;

/** Every record of a topic, partition by partition, in offset order. */
async function readAll(stream: LocalStream, topic: string) {
  const reader = stream.eventLog();
  const records: Array<{ value: Buffer | null }> = [];
  for (const [partition, end] of (await reader.endOffsets(topic)).entries()) {
    if (end === 0) continue;
    await reader.read(topic, { partition, fromOffset: 0, toOffset: end - 1 }, async (chunk) => {
      records.push(...chunk);
    });
  }
  return records;
}

/**
 * Watches the group's lag: per partition, the longest time it had records waiting and its committed
 * offset did not move. Reported, never asserted on (the machine is shared).
 */
function watchStalls(stream: LocalStream) {
  const longest = new Map<number, number>();
  const since = new Map<number, { lag: number; at: number }>();
  let running = true;
  const done = (async () => {
    while (running) {
      const now = Date.now();
      // A reading the cluster cannot give now (its coordinator still loading) is skipped.
      const lags = await stream.lag(LOCAL_GROUP, LOCAL_TOPIC).catch(() => ({}));
      for (const [p, lag] of Object.entries(lags)) {
        const partition = Number(p);
        const last = since.get(partition);
        if (last === undefined || lag < last.lag || lag === 0) since.set(partition, { lag, at: now });
        else longest.set(partition, Math.max(longest.get(partition) ?? 0, now - last.at));
      }
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MILLIS));
    }
  })();
  return {
    async stop(): Promise<number> {
      running = false;
      await done;
      return Math.max(0, ...longest.values());
    },
  };
}

/** Where the records go: the local log, and a real single-node Kafka cluster where one can run. */
const BACKENDS = [
  {
    name: 'the local log',
    ready: true,
    open: async (dir: string): Promise<LocalStream> => {
      const log = await LocalLog.open(join(dir, 'log'), { fsync: false });
      await log.createTopic(LOCAL_TOPIC, PARTITIONS);
      return new LocalLogStream(log);
    },
  },
  {
    name: 'a real Kafka broker',
    ready: kafkaReady,
    open: async (): Promise<LocalStream> => {
      const cluster = await KafkaCluster.start({ nodes: 1, name: 'hostile-mix' });
      const admin = await cluster.admin();
      await applyTopics(admin, configuredTopics('dev')).finally(() => admin.disconnect());
      return new KafkaStream({ brokers: cluster.brokers, clientId: 'hostile-mix' });
    },
  },
] as const;

describe.each(BACKENDS)(
  'hostile-mix drill: 10,000 records, 30% hostile, through the real consumer on $name',
  (backend) => {
    let services: LocalDataServices;
    let dir: string;
    let topics: LocalStream;

    beforeAll(async () => {
      if (!backend.ready) return;
      services = await LocalDataServices.start({ shards: 4, name: 'hostile-mix' });
      dir = await mkdtemp(join(tmpdir(), 'cdp-hostile-mix-'));
      topics = await backend.open(dir);
    });

    afterAll(async () => {
      await topics?.close();
      await destroyAll();
      await services?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it.skipIf(!backend.ready)(
      'loses no valid event, applies or dead-letters each hostile record exactly once with its reason, and never retries a batch',
      async () => {
        // Prepare: valid traffic with a hostile record after roughly every second valid event.
        const traffic = generateTraffic({ events: VALID, customers: 1_000, seed: 97, customerPrefix: 'mix' });
        const stream: MixedRecord[] = [];
        let hostile = 0;
        for (const [i, envelope] of traffic.entries()) {
          stream.push({
            kind: 'valid',
            fate: 'applied',
            envelope,
            message: { key: envelope.customerId, value: JSON.stringify(envelope) },
          });
          while (hostile < HOSTILE && hostile * VALID <= i * HOSTILE) {
            // Hostile records reuse an earlier valid event's id and customer, or bring a mixed-case id.
            const base = traffic[Math.floor((i * 7_919 + hostile) % (i + 1))] ?? envelope;
            stream.push(hostile % 15 === 14 ? mixedCaseEvent(hostile) : hostileRecord(base, hostile));
            hostile += 1;
          }
        }
        const placed: Array<{ record: MixedRecord; partition: number; offset: number }> = [];
        for (let i = 0; i < stream.length; i += 1_000) {
          const chunk = stream.slice(i, i + 1_000);
          const results = await topics.append(
            LOCAL_TOPIC,
            chunk.map((r): AppendMessage => r.message),
          );
          results.forEach((r, j) => {
            const record = chunk[j];
            if (record !== undefined) placed.push({ record, ...r });
          });
        }
        const local = await LocalConsumer.create({
          stream: topics,
          shardMap: services.shardMap,
          redisUrl: services.redis?.url,
          concurrency: 4,
        });

        // Act
        const started = performance.now();
        const stalls = watchStalls(topics);
        await local.drain({ timeoutMillis: 120_000 });
        const longestStallMillis = await stalls.stop();
        const seconds = (performance.now() - started) / 1_000;
        const stats = local.emulator.stats();
        const totals = { ...local.consumer.totals };
        await local.close();

        // Assess: the dead-letter topic holds exactly one letter per record meant for it, with its reason.
        const letters = new Map<string, string[]>();
        let failureRecords = 0;
        for (const record of await readAll(topics, LOCAL_DLQ_TOPIC)) {
          const body = JSON.parse(record.value?.toString('utf8') ?? '{}');
          if (body.kind !== 'poison-record') failureRecords += 1;
          else {
            const at = `${body.record.partition}:${body.record.offset}`;
            letters.set(at, [...(letters.get(at) ?? []), body.reason]);
          }
        }
        const wrong = placed.flatMap(({ record, partition, offset }) => {
          const got = letters.get(`${partition}:${offset}`) ?? [];
          const expected: Fate[] = record.fate === 'applied' ? [] : [record.fate];
          return JSON.stringify(got) === JSON.stringify(expected)
            ? []
            : [`${record.kind} at ${partition}:${offset}: ${got}`];
        });
        const valid = placed.flatMap(({ record }) =>
          record.kind === 'valid' || record.kind === 'mixed-case id' ? [record.envelope as Envelope] : [],
        );
        const snapshot = await snapshotShards(services);
        const expected = expectedState(valid);
        const lost = [...expected].filter(
          ([id, state]) => JSON.stringify(snapshot.customers.get(id)) !== JSON.stringify(state),
        );
        const byKind = new Map<string, number>();
        for (const { record } of placed) byKind.set(record.kind, (byKind.get(record.kind) ?? 0) + 1);
        console.log(
          JSON.stringify({
            drill: 'hostile-mix',
            backend: backend.name,
            records: placed.length,
            validEvents: valid.length,
            appliedEvents: snapshot.appliedEvents,
            customersWrong: lost.length,
            deadLetters: [...letters.values()].reduce((n, l) => n + l.length, 0),
            failureRecords,
            consumerTotals: totals,
            invocations: stats.invocations,
            retries: stats.retries,
            longestStallMillis,
            seconds: Number(seconds.toFixed(1)),
            kinds: Object.fromEntries(byKind),
          }),
        );
        expect(placed.length).toBeGreaterThanOrEqual(VALID + HOSTILE);
        expect(wrong).toEqual([]);
        expect(failureRecords).toBe(0);
        expect(lost).toEqual([]);
        expect(snapshot.appliedEvents).toBe(valid.length);
        expect(snapshot.eventCountSum).toBe(valid.length);
        expect(totals).toMatchObject({ failed: 0, parked: 0, rejected: 0 });
        // No batch was ever retried, so no partition waited for a retry at all.
        expect({
          functionErrors: stats.functionErrors,
          partialFailures: stats.partialFailures,
          retries: stats.retries,
        }).toEqual({
          functionErrors: 0,
          partialFailures: 0,
          retries: 0,
        });
      },
    );
  },
);
