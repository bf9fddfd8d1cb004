import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { CircuitState } from 'cockatiel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../../lambdas/shared/events/index.js';
import { INGEST_METRICS, type IngestPolicySettings } from '../../../lambdas/shared/ingest/ingestPolicies.js';
import { BackpressureError } from '../../../lambdas/shared/ingest/publisher.js';
import { type IngestMetrics, ResilientPublisher } from '../../../lambdas/shared/ingest/ResilientPublisher.js';
import { SpilloverDrainer } from '../../../lambdas/shared/ingest/SpilloverDrainer.js';
import { LOCAL_TOPIC } from '../../../local/consumer/LocalConsumer.js';
import { FaultyLocalBroker, LocalLogSpillover } from '../../../local/ingest/index.js';
import { LocalLog } from '../../../local/log/index.js';
import { waitFor } from '../../../local/services/index.js';
import { envelope } from '../../support/events.js';

const PARTITIONS = 4;

/**
 * Shorter than in production, so deadlines, retries and backoffs run within a test; long enough that a
 * healthy local append never hits them on a busy machine.
 */
const FAST: Partial<IngestPolicySettings> = {
  publishDeadlineMillis: 2_000,
  publishAttemptTimeoutMillis: 1_000,
  publishRetries: 10,
  publishRetryInitialDelayMillis: 5,
  publishRetryMaxDelayMillis: 20,
  brokerBreakerThreshold: 1_000,
  brokerBreakerHalfOpenAfterMillis: 60_000,
  batchLingerMillis: 50,
  spillDepthRefreshMillis: 0,
  drainChunkEvents: 10,
  drainIdleIntervalMillis: 20,
  drainBackoffInitialMillis: 10,
  drainBackoffMaxMillis: 50,
};

const quiet = new Logger({ serviceName: 'ingest-test', logLevel: 'SILENT' });

interface Rig {
  readonly log: LocalLog;
  readonly broker: FaultyLocalBroker;
  readonly spillover: LocalLogSpillover;
  readonly publisher: ResilientPublisher;
  readonly drainer: SpilloverDrainer;
  readonly metrics: IngestMetrics & { addMetric: ReturnType<typeof vi.fn> };
}

let dir: string;
const rigs: Rig[] = [];

async function rig(options: { bound?: number; settings?: Partial<IngestPolicySettings> } = {}): Promise<Rig> {
  const log = await LocalLog.open(join(dir, `log-${rigs.length}`));
  await log.createTopic(LOCAL_TOPIC, PARTITIONS);
  const broker = new FaultyLocalBroker(log, { hangTimeoutMillis: 10_000 });
  const spillover = await LocalLogSpillover.open({
    log,
    bound: options.bound ?? 10_000,
    retryAfterSeconds: 2,
  });
  const metrics = { addMetric: vi.fn() };
  const settings = { ...FAST, ...options.settings };
  const publisher = new ResilientPublisher({
    inner: broker,
    spillover,
    topic: LOCAL_TOPIC,
    settings,
    metrics,
    logger: quiet,
  });
  const drainer = new SpilloverDrainer({
    inner: broker,
    spillover,
    topic: LOCAL_TOPIC,
    settings,
    policies: publisher.policies,
    metrics,
    logger: quiet,
  });
  const built = { log, broker, spillover, publisher, drainer, metrics };
  rigs.push(built);
  return built;
}

/** Every envelope on the brokers' topic, per partition in offset order. */
async function published(log: LocalLog): Promise<Envelope[][]> {
  const partitions: Envelope[][] = [];
  for (let partition = 0; partition < PARTITIONS; partition += 1) {
    const end = await log.endOffset(LOCAL_TOPIC, partition);
    const records = end === 0 ? [] : await log.read(LOCAL_TOPIC, partition, 0, end);
    partitions.push(records.map((r) => JSON.parse(r.value?.toString('utf8') ?? 'null') as Envelope));
  }
  return partitions;
}

const ids = (envelopes: readonly Envelope[]) => envelopes.map((e) => e.eventId);
const spilledIds = async (spillover: LocalLogSpillover) =>
  (await spillover.peek(10_000)).map((s) => s.envelope.eventId);
const changes = (customerId: string, count: number, from = 0) =>
  Array.from({ length: count }, (_, i) =>
    envelope('customer.email-changed', customerId, from + i, {
      email: `${customerId}.${from + i}@example.com`,
    }),
  );

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdp-ingest-'));
});

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.drainer.stop();
    await r.broker.close();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('ResilientPublisher', () => {
  it('publishes straight to the brokers when they are healthy, batching concurrent requests into one produce', async () => {
    // Prepare
    const { log, broker, spillover, publisher } = await rig();
    const produce = vi.spyOn(broker, 'publish');
    const requests = [changes('alice', 3), changes('bob', 2), changes('carol', 4)];

    // Act
    await Promise.all(requests.map((events) => publisher.publish(LOCAL_TOPIC, events)));

    // Assess
    expect(produce).toHaveBeenCalledTimes(1);
    expect(ids((await published(log)).flat()).sort()).toEqual(ids(requests.flat()).sort());
    expect(await spillover.depth()).toBe(0);
    expect(publisher.stats()).toEqual({ published: 9, spilled: 0, refused: 0 });
  });

  it('spills the events durably when the brokers refuse connections, and resolves', async () => {
    // Prepare
    const { log, broker, publisher, metrics } = await rig();
    broker.setFault('refuse');
    const events = changes('alice', 5);

    // Act
    await publisher.publish(LOCAL_TOPIC, events);

    // Assess: nothing reached the brokers; a fresh process opening the same directory finds the events.
    expect((await published(log)).flat()).toEqual([]);
    const reopened = await LocalLogSpillover.open({ log: await LocalLog.open(log.dir) });
    expect(await reopened.depth()).toBe(5);
    expect((await reopened.peek(10)).map((s) => s.envelope)).toEqual(events);
    expect(metrics.addMetric).toHaveBeenCalledWith(INGEST_METRICS.spilled, 'Count', 5);
    expect(metrics.addMetric).toHaveBeenCalledWith(INGEST_METRICS.publishErrors, 'Count', 1);
  });

  it('cuts a hanging publish at the deadline and spills the events', async () => {
    // Prepare
    const { log, broker, spillover, publisher } = await rig();
    broker.setFault('hang');
    const events = changes('alice', 2);
    const started = performance.now();

    // Act
    await publisher.publish(LOCAL_TOPIC, events);

    // Assess
    // Cut at the deadline, long before the hung call would have returned by itself.
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_950);
    expect(elapsed).toBeLessThan(10_000);
    expect(await spilledIds(spillover)).toEqual(ids(events));
    expect((await published(log)).flat()).toEqual([]);
    expect(broker.stats().hungCalls).toBeGreaterThan(0);
  });

  it('opens the breaker after the threshold of failed attempts, then spills without calling the brokers', async () => {
    // Prepare
    const { broker, spillover, publisher, metrics } = await rig({
      settings: { brokerBreakerThreshold: 3, publishDeadlineMillis: 5_000 },
    });
    broker.setFault('refuse');
    const produce = vi.spyOn(broker, 'publish');

    // Act
    const started = performance.now();
    await publisher.publish(LOCAL_TOPIC, changes('alice', 1));
    const first = performance.now() - started;
    await publisher.publish(LOCAL_TOPIC, changes('bob', 1));

    // Assess: three attempts, then the breaker ended the retries before the 5 s deadline, and the second
    // request spilled without a call to the brokers.
    expect(produce).toHaveBeenCalledTimes(3);
    expect(publisher.policies.breaker.state).toBe(CircuitState.Open);
    expect(first).toBeLessThan(5_000);
    expect(await spillover.depth()).toBe(2);
    expect(metrics.addMetric).toHaveBeenCalledWith(INGEST_METRICS.breakerOpen, 'Count', 1);
  });

  it('refuses a request with BackpressureError and stores none of its events when the spillover is full', async () => {
    // Prepare
    const { broker, spillover, publisher } = await rig({ bound: 10 });
    broker.setFault('refuse');
    const accepted = changes('alice', 8);
    await publisher.publish(LOCAL_TOPIC, accepted);

    // Act
    const refused = await publisher.publish(LOCAL_TOPIC, changes('bob', 5)).catch((error: unknown) => error);

    // Assess
    expect(refused).toBeInstanceOf(BackpressureError);
    expect(refused).toMatchObject({ retryAfterSeconds: 2, depth: 8, bound: 10 });
    expect(await spilledIds(spillover)).toEqual(ids(accepted));
    expect(publisher.stats()).toMatchObject({ spilled: 8, refused: 5 });
  });

  it('accepts the concurrent requests that still fit when their batch overflows the spillover', async () => {
    // Prepare
    const { broker, spillover, publisher } = await rig({ bound: 8 });
    broker.setFault('refuse');
    const fits = changes('alice', 6);
    const overflows = changes('bob', 3);

    // Act
    const outcomes = await Promise.allSettled([
      publisher.publish(LOCAL_TOPIC, fits),
      publisher.publish(LOCAL_TOPIC, overflows),
    ]);

    // Assess
    expect(outcomes[0]?.status).toBe('fulfilled');
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: expect.any(BackpressureError) });
    expect(await spilledIds(spillover)).toEqual(ids(fits));
  });

  it('spills a request that does not fit in the in-memory queue instead of waiting', async () => {
    // Prepare
    const { log, spillover, publisher } = await rig({ settings: { queueMaxEvents: 5 } });
    const queued = changes('alice', 4);
    const tooMany = changes('bob', 4);

    // Act
    await Promise.all([publisher.publish(LOCAL_TOPIC, queued), publisher.publish(LOCAL_TOPIC, tooMany)]);

    // Assess: the queued request follows it into the spillover (the order invariant), none waited.
    expect(await spilledIds(spillover)).toEqual([...ids(tooMany), ...ids(queued)]);
    expect(ids((await published(log)).flat())).toEqual([]);
    expect(publisher.stats()).toMatchObject({ published: 0, spilled: 8 });
  });

  it('keeps spilling new events while the spillover is not empty, even once the brokers are back', async () => {
    // Prepare: a customer's first event is spilled during an outage.
    const { log, broker, spillover, publisher, drainer } = await rig();
    const [older, newer, newest] = changes('alice', 3);
    if (older === undefined || newer === undefined || newest === undefined) throw new RangeError('no events');
    broker.setFault('refuse');
    await publisher.publish(LOCAL_TOPIC, [older]);
    broker.setFault('none');
    const produce = vi.spyOn(broker, 'publish');

    // Act 1: the brokers are healthy, but the older event still waits in the spillover.
    await publisher.publish(LOCAL_TOPIC, [newer]);

    // Assess 1: the newer event queued up behind it instead of overtaking it.
    expect(produce).not.toHaveBeenCalled();
    expect(await spilledIds(spillover)).toEqual([older.eventId, newer.eventId]);

    // Act 2: the drainer empties the spillover; afterwards events go straight to the brokers.
    await drainer.drainOnce();
    await publisher.publish(LOCAL_TOPIC, [newest]);

    // Assess 2
    expect(await spillover.depth()).toBe(0);
    expect(ids((await published(log)).flat())).toEqual([older.eventId, newer.eventId, newest.eventId]);
  });

  it('resolves only after every request of a close is published or spilled, then refuses new ones', async () => {
    // Prepare
    const { log, publisher } = await rig();
    const pending = publisher.publish(LOCAL_TOPIC, changes('alice', 2));

    // Act
    await publisher.close();

    // Assess
    await expect(pending).resolves.toBeUndefined();
    expect((await published(log)).flat()).toHaveLength(2);
    await expect(publisher.publish(LOCAL_TOPIC, changes('bob', 1))).rejects.toMatchObject({
      name: 'PublishError',
      retriable: false,
    });
  });
});

describe('SpilloverDrainer', () => {
  it('empties the spillover after recovery, in spill order, acknowledging only what the brokers took', async () => {
    // Prepare: 45 events of three customers spilled in a known order during an outage.
    const { log, broker, spillover, publisher, drainer, metrics } = await rig();
    broker.setFault('refuse');
    const spilled: Envelope[] = [];
    for (let round = 0; round < 5; round += 1) {
      for (const customer of ['alice', 'bob', 'carol']) {
        const events = changes(customer, 3, round * 3);
        await publisher.publish(LOCAL_TOPIC, events);
        spilled.push(...events);
      }
    }
    const acknowledge = spillover.acknowledge.bind(spillover);
    const unpublishedAtAck: string[] = [];
    vi.spyOn(spillover, 'acknowledge').mockImplementation(async (receipts) => {
      const onBrokers = new Set(ids((await published(log)).flat()));
      const chunk = (await spillover.peek(receipts.length)).map((s) => s.envelope.eventId);
      unpublishedAtAck.push(...chunk.filter((id) => !onBrokers.has(id)));
      return acknowledge(receipts);
    });

    // Act 1: a pass while the brokers still refuse.
    const failed = await drainer.drainOnce();

    // Assess 1: nothing was acknowledged.
    expect(failed).toMatchObject({ drained: 0, emptied: false, error: expect.any(Error) });
    expect(await spillover.depth()).toBe(45);

    // Act 2
    broker.setFault('none');
    const pass = await drainer.drainOnce();

    // Assess 2: every event once, each partition holding its customers' events in spill order.
    expect(pass).toEqual({ drained: 45, emptied: true });
    expect(await spillover.depth()).toBe(0);
    expect(unpublishedAtAck).toEqual([]);
    const onBrokers = await published(log);
    expect(ids(onBrokers.flat()).sort()).toEqual(ids(spilled).sort());
    for (const partition of onBrokers) {
      const customers = new Set(partition.map((e) => e.customerId));
      expect(ids(partition)).toEqual(ids(spilled.filter((e) => customers.has(e.customerId))));
    }
    expect(metrics.addMetric).toHaveBeenCalledWith(INGEST_METRICS.drained, 'Count', 45);
  });

  it('republishes a chunk whose acknowledgement failed instead of skipping it', async () => {
    // Prepare
    const { log, broker, spillover, publisher, drainer } = await rig();
    broker.setFault('refuse');
    const events = changes('alice', 4);
    await publisher.publish(LOCAL_TOPIC, events);
    broker.setFault('none');
    vi.spyOn(spillover, 'acknowledge').mockRejectedValueOnce(new Error('offset store unavailable'));

    // Act
    const first = await drainer.drainOnce();
    const second = await drainer.drainOnce();

    // Assess: at-least-once: published twice (consumers drop the repeated ids), never lost.
    expect(first).toMatchObject({ drained: 0, emptied: false });
    expect(second).toEqual({ drained: 4, emptied: true });
    expect(ids((await published(log)).flat())).toEqual([...ids(events), ...ids(events)]);
    expect(await spillover.depth()).toBe(0);
  });

  it('gives up a probe of hanging brokers at the attempt timeout and acknowledges nothing', async () => {
    // Prepare
    const { broker, spillover, publisher, drainer } = await rig();
    broker.setFault('refuse');
    await publisher.publish(LOCAL_TOPIC, changes('alice', 3));
    broker.setFault('hang');
    const started = performance.now();

    // Act
    const pass = await drainer.drainOnce();

    // Assess: given up at the 1 s attempt timeout, long before the hung call would have returned (10 s).
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(10_000);
    expect(broker.stats().hungCalls).toBeGreaterThan(0);
    expect(pass).toMatchObject({ drained: 0, emptied: false, error: expect.objectContaining({}) });
    expect(await spillover.depth()).toBe(3);
  });

  it('drains in the background with backoff until the brokers recover, then stops on request', async () => {
    // Prepare
    const { log, broker, spillover, publisher, drainer } = await rig();
    broker.setFault('refuse');
    await publisher.publish(LOCAL_TOPIC, changes('alice', 25));
    const produce = vi.spyOn(broker, 'publish');

    // Act
    drainer.start();
    await waitFor(() => produce.mock.calls.length >= 3, { timeoutMs: 5_000, description: 'failed probes' });
    broker.setFault('none');
    await waitFor(async () => (await spillover.depth()) === 0, {
      timeoutMs: 5_000,
      description: 'the drain',
    });
    await drainer.stop();

    // Assess
    expect((await published(log)).flat()).toHaveLength(25);
  });
});
