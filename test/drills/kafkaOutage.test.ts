import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import { BackpressureError, type EventPublisher } from '../../lambdas/shared/ingest/publisher.js';
import { ResilientPublisher } from '../../lambdas/shared/ingest/ResilientPublisher.js';
import { SpilloverDrainer } from '../../lambdas/shared/ingest/SpilloverDrainer.js';
import { LOCAL_GROUP, LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { FaultyLocalBroker, LocalLogSpillover } from '../../local/ingest/index.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { sleep, waitFor } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { expectedState } from '../support/expectedState.js';
import { snapshotShards } from '../support/shardState.js';

const EVENTS = 50_000;
const CUSTOMERS = 5_000;
const PARTITIONS = 12;
/** Concurrent clients, each sending one request at a time. */
const CLIENTS = 50;
/** Offered load: events per second the clients try to send, on a fixed schedule. */
const EVENTS_PER_SECOND = 1_100;
/** Deliberately small, so the outage fills it and requests past it get 503. */
const SPILL_BOUND = 4_000;
const RETRY_AFTER_SECONDS = 1;
/** The outage: brokers hanging, then refusing connections, 30 s in all, starting after a healthy spell. */
const OUTAGE_STARTS_MILLIS = 8_000;
const HANG_MILLIS = 12_000;
const REFUSE_MILLIS = 18_000;

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

  public constructor(private readonly inner: EventPublisher) {}

  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    try {
      await this.inner.publish(topic, envelopes);
    } catch (error: unknown) {
      if (error instanceof BackpressureError) this.backpressure.push({ error, events: envelopes.length });
      throw error;
    }
  }

  public close(): Promise<void> {
    return this.inner.close();
  }
}

/** Every record of the topic, duplicates included. */
async function topicEventIds(log: LocalLog): Promise<string[]> {
  const eventIds: string[] = [];
  for (let partition = 0; partition < PARTITIONS; partition += 1) {
    const end = await log.endOffset(LOCAL_TOPIC, partition);
    for (let offset = 0; offset < end; offset += 5_000) {
      for (const record of await log.read(LOCAL_TOPIC, partition, offset, 5_000)) {
        eventIds.push((JSON.parse(record.value?.toString('utf8') ?? '{}') as Envelope).eventId);
      }
    }
  }
  return eventIds;
}

describe('drill: Kafka unavailable for 30 s under load', () => {
  let services: LocalDataServices;
  let dir: string;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'kafka-outage' });
    dir = await mkdtemp(join(tmpdir(), 'cdp-kafka-outage-'));
  });

  afterAll(async () => {
    await services?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses no accepted event: spills within its bound, answers 503 past it, drains after recovery, one effect each', async () => {
    // Prepare: the brokers (local log with a fault switch), the spillover, the ingest API, the real consumer.
    const log = await LocalLog.open(join(dir, 'log'));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const broker = new FaultyLocalBroker(log);
    const spillover = await LocalLogSpillover.open({
      log,
      bound: SPILL_BOUND,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    });
    const resilient = new ResilientPublisher({ inner: broker, spillover, topic: LOCAL_TOPIC, logger: quiet });
    const drainer = new SpilloverDrainer({
      inner: broker,
      spillover,
      topic: LOCAL_TOPIC,
      policies: resilient.policies,
      logger: quiet,
    });
    const publisher = new RecordingPublisher(resilient);
    const api = new IngestService({ publisher, topic: LOCAL_TOPIC, logger: quiet });
    // The consumer reads through its own instance, as the consumer process does in AWS.
    const consumer = await LocalConsumer.create({
      stream: await LocalLog.open(join(dir, 'log')),
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
    const clock = { started: Date.now(), recoveredAt: 0, emptiedAt: 0, trafficDoneAt: 0 };
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
            for (const id of (JSON.parse(response.body) as { eventIds: string[] }).eventIds) accepted.add(id);
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
      broker.setFault('hang');
      await sleep(HANG_MILLIS);
      broker.setFault('refuse');
      await sleep(REFUSE_MILLIS);
      broker.setFault('none');
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
      await consumer.drain({ timeoutMillis: 40_000 });
    } finally {
      sampling = false;
      await sampler;
      await drainer.stop();
      await broker.close();
      await consumer.close();
    }

    // Assess
    const spilled = resilient.stats().spilled;
    const onTopic = await topicEventIds(log);
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
        `${onTopic.length} records on the topic, broker ${JSON.stringify(broker.stats())}, ` +
        `consumer done ${Date.now() - clock.started} ms after start`,
    );

    // The spillover was used, never past its bound; requests past it got 503 + Retry-After, then got in.
    expect(spilled).toBeGreaterThan(SPILL_BOUND);
    expect(depth.max).toBeLessThanOrEqual(SPILL_BOUND);
    expect(depth.max).toBeGreaterThan(SPILL_BOUND * 0.9);
    expect(answers.unavailable).toBeGreaterThan(0);
    expect(answers.other).toEqual([]);
    expect(publisher.backpressure).toHaveLength(answers.unavailable);
    for (const { error, events } of publisher.backpressure) {
      expect(error.retryAfterSeconds).toBeGreaterThan(0);
      expect(error.depth + events).toBeGreaterThan(error.bound);
    }
    expect([...retryAfterHeaders]).toEqual([String(RETRY_AFTER_SECONDS)]);
    expect(clock.emptiedAt).toBeGreaterThanOrEqual(clock.recoveredAt);

    // Every accepted event reached the brokers (at least once) and had exactly one effect on the shards.
    expect(accepted.size).toBe(EVENTS);
    const published = new Set(onTopic);
    expect([...accepted].filter((id) => !published.has(id))).toEqual([]);
    expect(published.size).toBe(accepted.size);
    expect(Object.values(await log.lag(LOCAL_GROUP, LOCAL_TOPIC)).every((lag) => lag === 0)).toBe(true);
    expect(mine).toHaveLength(CUSTOMERS);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(accepted.size);
    expect(snapshot.appliedEvents).toBe(accepted.size);
    for (const [id, state] of expected) expect(snapshot.customers.get(id)).toEqual(state);
  }, 85_000);
});
