import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { type EventPublisher, PublishError } from '../../lambdas/shared/ingest/publisher.js';
import { ResilientPublisher } from '../../lambdas/shared/ingest/ResilientPublisher.js';
import { SpilloverDrainer } from '../../lambdas/shared/ingest/SpilloverDrainer.js';
import { LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import { LocalLogSpillover } from '../../local/ingest/index.js';
import { applyTopics, configuredTopics } from '../../local/kafka/topics.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { destroyAll, sleep, waitFor } from '../../local/services/index.js';
import { KafkaCluster } from '../../local/services/KafkaCluster.js';
import { KafkaStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { quietTelemetry } from '../support/emf.js';
import { kafkaReady } from '../support/kafka.js';

const quiet = new Logger({ serviceName: 'broker-loss-drill', logLevel: 'SILENT' });
const REQUEST = 40;
const SENDERS = 4;

/** Records when the brokers acknowledged a publish, and the broker error codes of failed ones. */
class AcknowledgingPublisher implements EventPublisher {
  public constructor(
    private readonly inner: EventPublisher,
    private readonly acks: number[],
    private readonly codes: Map<string, number>,
  ) {}

  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    try {
      await this.inner.publish(topic, envelopes);
      this.acks.push(Date.now());
    } catch (error: unknown) {
      const code = error instanceof PublishError ? (error.context.code ?? 'unknown') : 'unknown';
      this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
      throw error;
    }
  }

  public close(): Promise<void> {
    return this.inner.close();
  }
}

const longestGap = (times: readonly number[], from: number, to: number): number => {
  const inside = [from, ...times.filter((t) => t > from && t < to), to].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < inside.length; i += 1) gap = Math.max(gap, (inside[i] ?? 0) - (inside[i - 1] ?? 0));
  return gap;
};

describe.skipIf(!kafkaReady)('drill: brokers lost under sustained load (RF 3, min ISR 2, acks=all)', () => {
  let services: LocalDataServices;
  let cluster: KafkaCluster;
  let stream: KafkaStream;
  let consumer: LocalConsumer;
  let dir: string;

  beforeAll(async () => {
    // The controller apart from the brokers, as on Amazon MSK: losing brokers leaves the metadata quorum up.
    [services, cluster] = await Promise.all([
      LocalDataServices.start({ shards: 4, name: 'broker-loss' }),
      KafkaCluster.start({ nodes: 3, controllers: 'dedicated', name: 'broker-loss' }),
    ]);
    const admin = await cluster.admin();
    await applyTopics(admin, configuredTopics('dev')).finally(() => admin.disconnect());
    stream = new KafkaStream({ brokers: cluster.brokers, clientId: 'broker-loss' });
    consumer = await LocalConsumer.create({
      stream,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
    });
    await consumer.start();
    dir = await mkdtemp(join(tmpdir(), 'cdp-broker-loss-'));
  });

  afterAll(async () => {
    await consumer?.close();
    await stream?.close();
    await destroyAll();
    await services?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Publishes `events` at `perSecond` through the ingest path (the platform's producer inside the resilient
   * publisher, a spillover on the local log and its drainer) while `fault` runs, then waits for the
   * spillover to empty and the consumer to drain.
   */
  async function underLoad(
    name: string,
    options: { events: number; perSecond: number; seed: number },
    fault: () => Promise<void>,
  ) {
    const acks: number[] = [];
    const codes = new Map<string, number>();
    const spillover = await LocalLogSpillover.open({ log: await LocalLog.open(join(dir, name)) });
    const ingest = new AcknowledgingPublisher(stream.publisher(`${name}-ingest`), acks, codes);
    const drain = new AcknowledgingPublisher(stream.publisher(`${name}-drainer`), acks, codes);
    const resilient = new ResilientPublisher({
      inner: ingest,
      spillover,
      topic: LOCAL_TOPIC,
      logger: quiet,
      metrics: quietTelemetry().metrics,
    });
    const drainer = new SpilloverDrainer({
      inner: drain,
      spillover,
      topic: LOCAL_TOPIC,
      policies: resilient.policies,
      logger: quiet,
      metrics: quietTelemetry().metrics,
    });
    // Each run its own seed: the seed makes the event ids, and a reused id is a duplicate to the consumer.
    const traffic = generateTraffic({
      events: options.events,
      customers: options.events / 8,
      seed: options.seed,
      customerPrefix: name,
    });
    const accepted = new Set<string>();
    const applied: number[] = [];
    const clock = { started: Date.now(), loadDone: 0 };
    let sampling = true;
    let lastApplied = consumer.consumer.totals.applied;
    const sampler = (async () => {
      while (sampling) {
        const now = consumer.consumer.totals.applied;
        if (now > lastApplied) applied.push(Date.now());
        lastApplied = now;
        await sleep(50);
      }
    })();
    let next = 0;
    const sender = async () => {
      for (let i = next; i < traffic.length; i = next) {
        next += REQUEST;
        const events = traffic.slice(i, i + REQUEST);
        await sleep(clock.started + (i / options.perSecond) * 1_000 - Date.now());
        await resilient.publish(LOCAL_TOPIC, events);
        for (const event of events) accepted.add(event.eventId);
      }
    };
    drainer.start();
    try {
      await Promise.all([fault(), ...Array.from({ length: SENDERS }, sender)]);
      clock.loadDone = Date.now();
      await waitFor(async () => (await spillover.depth()) === 0, {
        timeoutMs: 60_000,
        description: 'the drainer to empty the spillover',
      });
      await consumer.drain({ timeoutMillis: 90_000 });
    } finally {
      sampling = false;
      await sampler;
      await drainer.stop();
      await resilient.close();
      await drain.close();
    }
    return { traffic, accepted, acks, applied, codes, clock, spilled: resilient.stats().spilled };
  }

  async function expectExactlyOnce(
    traffic: readonly Envelope[],
    accepted: ReadonlySet<string>,
    prefix: string,
  ) {
    const snapshot = await snapshotShards(services);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith(`${prefix}-`));
    expect(accepted.size).toBe(traffic.length);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(accepted.size);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
  }

  it('loses no acknowledged event when one of three brokers is killed, and the broker rejoins the ISR on restart', async () => {
    // Act: kill broker 2 five seconds into the load, start it again on its data nine seconds later.
    const faultWindow = { killedAt: 0, restartedAt: 0 };
    const run = await underLoad('one-lost', { events: 16_000, perSecond: 800, seed: 5 }, async () => {
      await sleep(5_000);
      await cluster.node(2).kill();
      faultWindow.killedAt = Date.now();
      await sleep(9_000);
      await cluster.restart(2);
      faultWindow.restartedAt = Date.now();
    });
    await cluster.waitForFullIsr(LOCAL_TOPIC);
    const rejoinedAt = Date.now();

    // Assess
    const ackGap = longestGap(run.acks, faultWindow.killedAt - 1_000, run.clock.loadDone);
    const applyGap = longestGap(run.applied, faultWindow.killedAt - 1_000, run.clock.loadDone);
    console.info(
      `broker loss drill (1 of 3): ${run.accepted.size} events accepted, ${run.spilled} spilled, ` +
        `longest gap in acknowledgements ${ackGap} ms, in applies ${applyGap} ms, ` +
        `failed publishes by code ${JSON.stringify(Object.fromEntries(run.codes))}, ` +
        `broker 2 back in every ISR ${rejoinedAt - faultWindow.restartedAt} ms after its restart`,
    );
    await expectExactlyOnce(run.traffic, run.accepted, 'one-lost');
    const admin = await cluster.admin();
    const metadata = await admin
      .fetchTopicMetadata({ topics: [LOCAL_TOPIC] })
      .finally(() => admin.disconnect());
    for (const partition of metadata.topics[0]?.partitions ?? []) expect(partition.isr).toContain(2);
  }, 240_000);

  it('refuses writes with NOT_ENOUGH_REPLICAS when two of three are lost: events spill, none is lost, publishing resumes', async () => {
    // Act: kill brokers 2 and 3, start them again twelve seconds later.
    const faultWindow = { killedAt: 0, restartedAt: 0 };
    const run = await underLoad('two-lost', { events: 12_000, perSecond: 500, seed: 6 }, async () => {
      await sleep(4_000);
      await Promise.all([cluster.node(2).kill(), cluster.node(3).kill()]);
      faultWindow.killedAt = Date.now();
      await sleep(12_000);
      await Promise.all([cluster.node(2).start(), cluster.node(3).start()]);
      await cluster.waitForBrokers(3);
      faultWindow.restartedAt = Date.now();
    });
    await cluster.waitForFullIsr(LOCAL_TOPIC);

    // Assess
    const acksAfterRestart = run.acks.filter((t) => t > faultWindow.restartedAt).length;
    console.info(
      `broker loss drill (2 of 3): ${run.accepted.size} events accepted, ${run.spilled} spilled, ` +
        `failed publishes by code ${JSON.stringify(Object.fromEntries(run.codes))}, ` +
        `${acksAfterRestart} acknowledged publishes after the restart, first ` +
        `${(run.acks.find((t) => t > faultWindow.restartedAt) ?? 0) - faultWindow.restartedAt} ms after it`,
    );
    expect(run.codes.get('NOT_ENOUGH_REPLICAS') ?? 0).toBeGreaterThan(0);
    expect(run.spilled).toBeGreaterThan(0);
    expect(acksAfterRestart).toBeGreaterThan(0);
    await expectExactlyOnce(run.traffic, run.accepted, 'two-lost');
  }, 240_000);
});
