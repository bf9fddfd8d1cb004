import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import {
  BackpressureError,
  type EventPublisher,
  PublishError,
} from '../../lambdas/shared/ingest/publisher.js';
import { ResilientPublisher } from '../../lambdas/shared/ingest/ResilientPublisher.js';
import { SpilloverDrainer } from '../../lambdas/shared/ingest/SpilloverDrainer.js';
import { LOCAL_GROUP, LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { LOCAL_SPILLOVER_TOPIC, LocalLogSpillover } from '../../local/ingest/index.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll, sleep, waitFor } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { kafkaReady } from '../support/kafka.js';

const EVENTS = 50_000;
const CUSTOMERS = 5_000;
/** Concurrent clients, each sending one request at a time. */
const CLIENTS = 50;
/** Offered load: events per second the clients try to send, on a fixed schedule. */
const EVENTS_PER_SECOND = 1_100;
/** Deliberately small, so the outage fills it and requests past it get 503. */
const SPILL_BOUND = 4_000;
const RETRY_AFTER_SECONDS = 1;
/**
 * The outage, after a healthy spell: every broker paused (SIGSTOP: connections open, nothing answers) for
 * 12 s, then every broker killed (SIGKILL: connections refused) and started again on its data 20 s later.
 */
const OUTAGE_STARTS_MILLIS = 8_000;
const PAUSE_MILLIS = 12_000;
const DOWN_MILLIS = 20_000;

const quiet = new Logger({ serviceName: 'kafka-outage-drill', logLevel: 'SILENT' });

/** A seeded PRNG, so the request sizes are the same on every run. */
function sizes(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return 10 + (state % 91);
  };
}

/** Cuts the traffic into requests of 10-100 events, each with the time it is due from the start. */
function requestsOf(traffic: readonly Envelope[]): Array<{ events: Envelope[]; dueMillis: number }> {
  const next = sizes(7);
  const requests: Array<{ events: Envelope[]; dueMillis: number }> = [];
  for (let i = 0; i < traffic.length; ) {
    const events = traffic.slice(i, i + next());
    requests.push({ events, dueMillis: (i / EVENTS_PER_SECOND) * 1_000 });
    i += events.length;
  }
  return requests;
}

/** Passes publishes through, keeping every BackpressureError the API turned into a 503. */
class RecordingPublisher implements EventPublisher {
  public readonly backpressure: Array<{ error: BackpressureError; events: number }> = [];
  /** Retriable refusals other than a full spillover: a spill write that outlived its deadline under load. */
  public readonly spillFailures: PublishError[] = [];

  public constructor(private readonly inner: EventPublisher) {}

  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    try {
      await this.inner.publish(topic, envelopes);
    } catch (error: unknown) {
      if (error instanceof BackpressureError) this.backpressure.push({ error, events: envelopes.length });
      else if (error instanceof PublishError && error.retriable) this.spillFailures.push(error);
      throw error;
    }
  }

  public close(): Promise<void> {
    return this.inner.close();
  }
}

/** Every event id on the topic per partition, in offset order, duplicates included. */
async function topicEventIds(stream: KafkaStream): Promise<string[][]> {
  const reader = stream.eventLog();
  const ends = await reader.endOffsets(LOCAL_TOPIC);
  const partitions: string[][] = [];
  for (const [partition, end] of ends.entries()) {
    const ids: string[] = [];
    if (end > 0) {
      await reader.read(LOCAL_TOPIC, { partition, fromOffset: 0, toOffset: end - 1 }, async (records) => {
        for (const record of records) {
          ids.push((JSON.parse(record.value?.toString('utf8') ?? '{}') as Envelope).eventId);
        }
      });
    }
    partitions.push(ids);
  }
  return partitions;
}

/** The spilled events in spill order (the spillover is one partition of the local log). */
async function spilledEventIds(log: LocalLog): Promise<string[]> {
  const end = await log.endOffset(LOCAL_SPILLOVER_TOPIC, 0).catch(() => 0);
  const ids: string[] = [];
  for (let offset = 0; offset < end; offset += 5_000) {
    for (const record of await log.read(LOCAL_SPILLOVER_TOPIC, 0, offset, Math.min(5_000, end - offset))) {
      ids.push((JSON.parse(record.value?.toString('utf8') ?? '{}') as Envelope).eventId);
    }
  }
  return ids;
}

/**
 * Spilled events a partition holds out of spill order: the drainer republishes in spill order, so within
 * each partition the first copies of spilled events must follow it.
 */
function outOfSpillOrder(partitions: readonly string[][], spilled: readonly string[]): number {
  // A spill whose write outlived its deadline and was retried holds its events twice: rank by the first.
  const rank = new Map<string, number>();
  spilled.forEach((id, index) => {
    if (!rank.has(id)) rank.set(id, index);
  });
  let disorder = 0;
  for (const ids of partitions) {
    const seen = new Set<string>();
    let last = -1;
    for (const id of ids) {
      const position = rank.get(id);
      if (position === undefined || seen.has(id)) continue;
      seen.add(id);
      if (position < last) disorder += 1;
      last = Math.max(last, position);
    }
  }
  return disorder;
}

describe.skipIf(!kafkaReady)(
  'drill: every Kafka broker unavailable for 32 s under load (real 3-node cluster)',
  () => {
    let services: LocalDataServices;
    let cluster: KafkaCluster;
    let dir: string;

    beforeAll(async () => {
      [services, cluster] = await Promise.all([
        LocalDataServices.start({ shards: 4, name: 'kafka-outage' }),
        KafkaCluster.start({ nodes: 3, name: 'kafka-outage' }),
      ]);
      const admin = await cluster.admin();
      await applyTopics(admin, configuredTopics('dev')).finally(() => admin.disconnect());
      dir = await mkdtemp(join(tmpdir(), 'cdp-kafka-outage-'));
    });

    afterAll(async () => {
      await destroyAll();
      await services?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('loses no accepted event: spills within its bound, answers 503 past it, drains after recovery, one effect each', async () => {
      // Prepare: the platform's producer on the brokers, the spillover on the local log, the ingest API, the
      // real consumer in the mappings' consumer groups.
      const stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'kafka-outage' });
      const log = await LocalLog.open(join(dir, 'spill'));
      // The ingest function and the drainer function each have their own producer, as in AWS.
      const broker = stream.publisher('cdp-ingest');
      const drainerProducer = stream.publisher('cdp-spillover-drainer');
      const spillover = await LocalLogSpillover.open({
        log,
        bound: SPILL_BOUND,
        retryAfterSeconds: RETRY_AFTER_SECONDS,
      });
      const resilient = new ResilientPublisher({
        inner: broker,
        spillover,
        topic: LOCAL_TOPIC,
        logger: quiet,
      });
      const drainer = new SpilloverDrainer({
        inner: drainerProducer,
        spillover,
        topic: LOCAL_TOPIC,
        policies: resilient.policies,
        logger: quiet,
      });
      const publisher = new RecordingPublisher(resilient);
      const api = new IngestService({ publisher, topic: LOCAL_TOPIC, logger: quiet });
      const consumer = await LocalConsumer.create({
        stream,
        shardMap: services.shardMap,
        redisUrl: services.redis?.url,
      });
      const traffic = generateTraffic({
        events: EVENTS,
        customers: CUSTOMERS,
        seed: 31,
        customerPrefix: 'outage',
      });
      const requests = requestsOf(traffic);

      const accepted = new Set<string>();
      const answers = { accepted: 0, unavailable: 0, afterRecovery: 0, other: [] as string[] };
      const retryAfterHeaders = new Set<string>();
      const clock = { started: Date.now(), recoveredAt: 0, emptiedAt: 0, trafficDoneAt: 0, consumedAt: 0 };
      const depth = { max: 0, samples: 0 };
      let sampling = true;
      // Samples the spill depth all along, and notes when the drainer first emptied it after the recovery.
      const sampler = (async () => {
        while (sampling) {
          const current = await spillover.depth();
          depth.max = Math.max(depth.max, current);
          depth.samples += 1;
          if (current === 0 && clock.recoveredAt > 0 && clock.emptiedAt === 0) clock.emptiedAt = Date.now();
          await sleep(25);
        }
      })();

      // Act: 50 clients send every request on schedule, each 503 retried after its Retry-After.
      let nextRequest = 0;
      const client = async () => {
        for (let i = nextRequest++; i < requests.length; i = nextRequest++) {
          const request = requests[i];
          if (request === undefined) break;
          await sleep(clock.started + request.dueMillis - Date.now());
          const body = JSON.stringify({ events: request.events });
          for (;;) {
            const response = await api.accept({ shape: 'batch', body, contentType: 'application/json' });
            if (response.status === 202) {
              answers.accepted += 1;
              for (const id of (JSON.parse(response.body) as { eventIds: string[] }).eventIds)
                accepted.add(id);
              break;
            }
            if (response.status !== 503) {
              answers.other.push(`${response.status} ${response.body}`);
              break;
            }
            answers.unavailable += 1;
            if (clock.recoveredAt > 0) answers.afterRecovery += 1;
            const retryAfter = response.headers['retry-after'] ?? '';
            retryAfterHeaders.add(retryAfter);
            await sleep(Number(retryAfter) * 1_000);
          }
        }
      };
      const outage = async () => {
        await sleep(OUTAGE_STARTS_MILLIS);
        for (const node of cluster.nodes) node.pause();
        await sleep(PAUSE_MILLIS);
        await Promise.all(cluster.nodes.map((node) => node.kill()));
        await sleep(DOWN_MILLIS);
        // All three at once: a single node cannot form the controller quorum (2 of 3 voters) on its own.
        await Promise.all(cluster.nodes.map((node) => node.start()));
        await cluster.waitForBrokers(3);
        clock.recoveredAt = Date.now();
      };
      try {
        drainer.start();
        await consumer.start();
        await Promise.all([outage(), ...Array.from({ length: CLIENTS }, client)]);
        clock.trafficDoneAt = Date.now();
        await waitFor(() => clock.emptiedAt > 0, {
          timeoutMs: 20_000,
          description: 'the drainer to empty the spillover',
        });
        await resilient.close();
        // Clients retrying their 503s after the recovery may spill again once the spillover first emptied
        // (while anything is spilled, new events spill too): the drainer must take those as well.
        await waitFor(async () => (await spillover.depth()) === 0, {
          timeoutMs: 30_000,
          description: 'the drainer to empty the spillover after the last request',
        });
        await consumer.drain({ timeoutMillis: 90_000 });
        clock.consumedAt = Date.now();
      } finally {
        sampling = false;
        await sampler;
        await drainer.stop();
        await drainerProducer.close();
        await consumer.close();
      }

      // Assess
      const spilled = resilient.stats().spilled;
      const partitions = await topicEventIds(stream);
      const onTopic = partitions.flat();
      const spillOrder = await spilledEventIds(log);
      await stream.close();
      const snapshot = await snapshotShards(services);
      const expected = expectedState(traffic);
      const mine = [...snapshot.customers].filter(([id]) => id.startsWith('outage-'));
      console.info(
        `kafka outage drill: ${answers.accepted} requests 202 (${accepted.size} events), ` +
          `${answers.unavailable} answered 503 (${answers.afterRecovery} after recovery; ` +
          `${publisher.backpressure.length} BackpressureError), spilled ${spilled} events, ` +
          `max spill depth ${depth.max} of ${SPILL_BOUND} (${depth.samples} samples), ` +
          `spillover empty ${clock.emptiedAt - clock.recoveredAt} ms after recovery, ` +
          `traffic done ${clock.trafficDoneAt - clock.started} ms after start, ` +
          `${onTopic.length} records on the topic, ` +
          `consumer caught up ${clock.consumedAt - clock.recoveredAt} ms after recovery`,
      );

      // The spillover was used, never past its bound; requests past it got 503 + Retry-After, then got in.
      expect(spilled).toBeGreaterThan(SPILL_BOUND);
      expect(depth.max).toBeLessThanOrEqual(SPILL_BOUND);
      expect(depth.max).toBeGreaterThan(SPILL_BOUND * 0.9);
      expect(answers.unavailable).toBeGreaterThan(0);
      expect(answers.other).toEqual([]);
      // Every 503 is a retriable refusal the client retried: mostly a full spillover, rarely (on a loaded
      // machine) a spill write that outlived its deadline; nothing else.
      expect(publisher.backpressure.length + publisher.spillFailures.length).toBe(answers.unavailable);
      expect(publisher.spillFailures.every((e) => e.context.code === 'SPILL_FAILED')).toBe(true);
      for (const { error, events } of publisher.backpressure) {
        expect(error.retryAfterSeconds).toBeGreaterThan(0);
        expect(error.depth + events).toBeGreaterThan(error.bound);
      }
      expect([...retryAfterHeaders]).toEqual([String(RETRY_AFTER_SECONDS)]);
      expect(clock.emptiedAt).toBeGreaterThanOrEqual(clock.recoveredAt);
      // The spillover was drained in spill order.
      // At least every counted spill; more when a write that outlived its deadline was retried.
      expect(spillOrder.length).toBeGreaterThanOrEqual(spilled);
      expect(outOfSpillOrder(partitions, spillOrder)).toBe(0);

      // Every accepted event reached the brokers (at least once) and had exactly one effect on the shards.
      expect(accepted.size).toBe(EVENTS);
      const published = new Set(onTopic);
      expect([...accepted].filter((id) => !published.has(id))).toEqual([]);
      expect(published.size).toBe(accepted.size);
      const lagStream = new KafkaStream({ brokers: cluster.brokers, clientId: 'kafka-outage-check' });
      const lag = await lagStream.lag(LOCAL_GROUP, LOCAL_TOPIC).finally(() => lagStream.close());
      expect(Object.values(lag).every((records) => records === 0)).toBe(true);
      expect(mine).toHaveLength(CUSTOMERS);
      expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(accepted.size);
      expect(snapshot.appliedEvents).toBe(accepted.size);
      for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
    }, 240_000);
  },
);
