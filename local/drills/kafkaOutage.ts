// Over 300 lines on purpose: the drill is one timed script (load, outage, recovery, drain, assessment) whose
// phases share the running services and the counters; its adapters and readers live in ./support.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE, SERVICES } from '../../lambdas/shared/contracts/index.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import { ResilientPublisher } from '../../lambdas/shared/ingest/ResilientPublisher.js';
import { SpilloverDrainer } from '../../lambdas/shared/ingest/SpilloverDrainer.js';
import { LOCAL_DLQ_TOPIC, LOCAL_GROUP, LOCAL_TOPIC, LocalConsumer } from '../consumer/LocalConsumer.js';
import { LocalLogSpillover } from '../ingest/index.js';
import { LocalLog } from '../log/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { sleep, waitFor } from '../services/index.js';
import { kafkaAvailability } from '../services/kafkaDistribution.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { readEffects, tally, withInjectedLoss } from './support/effects.js';
import { kafkaBrokers, logBrokers } from './support/outageBrokers.js';
import { RecordingPublisher } from './support/RecordingPublisher.js';
import { outOfSpillOrder, spilledEventIds, topicEventIds } from './support/topicReading.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

/** Concurrent clients, each sending one request at a time. */
const CLIENTS = 50;
/** Offered load: events per second the clients try to send, on a fixed schedule. */
const EVENTS_PER_SECOND = 1_100;
export const RETRY_AFTER_SECONDS = 1;
const PREFIX = 'outage';
const RECOVER_WITHIN_SECONDS = 120;

const quiet = new Logger({ serviceName: 'kafka-outage-drill', logLevel: 'SILENT' });

export interface KafkaOutageOptions extends DrillOptions {
  /** Deliberately small, so the outage fills it and requests past it get 503 (default 8% of the events). */
  readonly spillBound?: number;
  /** The healthy spell before the outage. */
  readonly outageStartsSeconds?: number;
  /** `kafka`: a real 3-node cluster; `log`: the local log behind a fault switch. Default: Kafka when it can run. */
  readonly backend?: 'kafka' | 'log';
}

export interface KafkaOutageDetails {
  readonly backend: 'kafka' | 'log';
  readonly spillBound: number;
  readonly spilled: number;
  readonly maxSpillDepth: number;
  readonly answers: { accepted: number; unavailable: number; afterRecovery: number; other: string[] };
  readonly backpressure: Array<{ retryAfterSeconds: number; depth: number; bound: number; events: number }>;
  readonly spillFailureCodes: unknown[];
  readonly retryAfterHeaders: string[];
  readonly emptiedAfterRecovery: boolean;
  readonly spillOrderLength: number;
  readonly outOfSpillOrder: number;
  readonly events: number;
  readonly acceptedEvents: number;
  /** Accepted events that never reached the topic. */
  readonly notOnTopic: string[];
  readonly distinctOnTopic: number;
  readonly lagAfter: number;
  /** Consumer group members replaced after kafkajs stopped one, or after one stopped fetching (Kafka only). */
  readonly membersReplaced: { readonly crashed: number; readonly stalled: number };
  readonly customers: number;
  readonly expectedCustomers: number;
  readonly effects: number;
  readonly appliedEvents: number;
  readonly wrongCustomers: string[];
}

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

/**
 * §1 Kafka becomes unavailable under load: every broker paused, then killed and started again on its
 * data. Accepted events spill within the spillover's bound (503 + Retry-After past it), are drained in
 * spill order after the recovery, and each has exactly one effect.
 */
export async function runKafkaOutage(
  options: KafkaOutageOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<KafkaOutageDetails>> {
  const events = options.events ?? 12_000;
  const customers = Math.max(1, Math.round(events / 10));
  const outageMillis = (options.seconds ?? 12) * 1_000;
  const pauseMillis = Math.round(outageMillis * 0.375);
  const downMillis = outageMillis - pauseMillis;
  const outageStartsMillis = (options.outageStartsSeconds ?? 3) * 1_000;
  const spillBound = options.spillBound ?? Math.round(events * 0.08);
  const availability = await kafkaAvailability();
  const backend = options.backend ?? (availability.available ? 'kafka' : 'log');
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'cdp-drill-kafka-outage-'));
  progress(
    backend === 'kafka'
      ? 'starting PostgreSQL (4 shards), Redis and a 3-node Kafka cluster'
      : `Kafka cannot run here (${availability.reason ?? 'the local log was asked for'}): the local log plays the brokers`,
  );
  const [services, brokers] = await Promise.all([
    LocalDataServices.start({ shards: 4, name: 'drill-kafka-outage' }),
    backend === 'kafka' ? kafkaBrokers() : logBrokers(dir),
  ]);
  try {
    const log = await LocalLog.open(join(dir, 'spill'));
    // The ingest function and the drainer function each have their own producer, as in AWS.
    const broker = brokers.publisher('cdp-ingest');
    const drainerProducer = brokers.publisher('cdp-spillover-drainer');
    const spillover = await LocalLogSpillover.open({
      log,
      bound: spillBound,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    });
    // The functions' metrics, as the handlers create them (flushed by no one here: the drill reads its own).
    const ingestMetrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.ingest });
    const drainerMetrics = new Metrics({
      namespace: METRIC_NAMESPACE,
      serviceName: SERVICES.spilloverDrainer,
    });
    const resilient = new ResilientPublisher({
      inner: broker,
      spillover,
      topic: LOCAL_TOPIC,
      logger: quiet,
      metrics: ingestMetrics,
    });
    const drainer = new SpilloverDrainer({
      inner: drainerProducer,
      spillover,
      topic: LOCAL_TOPIC,
      policies: resilient.policies,
      logger: quiet,
      metrics: drainerMetrics,
    });
    const publisher = new RecordingPublisher(resilient);
    const api = new IngestService({ publisher, topic: LOCAL_TOPIC, logger: quiet, metrics: ingestMetrics });
    const consumer = await LocalConsumer.create({
      stream: brokers.stream,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
    });
    const traffic = generateTraffic({ events, customers, seed: 31, customerPrefix: PREFIX });
    // Test-only loss: one event is left out of its request, yet counted as accepted below.
    const sent = new Set(withInjectedLoss(traffic, options.injectLoss).map((e) => e.eventId));
    const requests = requestsOf(traffic).map((r) => ({
      ...r,
      events: r.events.filter((e) => sent.has(e.eventId)),
    }));

    const accepted = new Set<string>();
    const answers = { accepted: 0, unavailable: 0, afterRecovery: 0, other: [] as string[] };
    const retryAfterHeaders = new Set<string>();
    const clock = { started: Date.now(), recoveredAt: 0, emptiedAt: 0 };
    let depth = 0;
    let maxDepth = 0;
    let offered = 0;
    let lastLag = 0;
    let lagPending = false;
    const recorder = new Recorder(() => {
      const totals = consumer.consumer.totals;
      // The lag cannot be read while the brokers are down: the samples keep the last reading meanwhile.
      if (!lagPending) {
        lagPending = true;
        brokers.stream
          .lag(LOCAL_GROUP, LOCAL_TOPIC)
          .then((lag) => {
            lastLag = Object.values(lag).reduce((a, b) => a + b, 0);
          })
          .catch(() => undefined)
          .finally(() => {
            lagPending = false;
          });
      }
      return {
        offered,
        applied: totals.applied + totals.stale,
        errors: answers.unavailable,
        lag: lastLag,
        degraded: depth,
      };
    });
    let sampling = true;
    // Samples the spill depth all along, and notes when the drainer first emptied it after the recovery.
    const sampler = (async () => {
      while (sampling) {
        depth = await spillover.depth();
        maxDepth = Math.max(maxDepth, depth);
        if (depth === 0 && clock.recoveredAt > 0 && clock.emptiedAt === 0) clock.emptiedAt = Date.now();
        await sleep(25);
      }
    })();

    // Clients send every request on schedule, each 503 retried after its Retry-After.
    let nextRequest = 0;
    const client = async () => {
      for (let i = nextRequest++; i < requests.length; i = nextRequest++) {
        const request = requests[i];
        if (request === undefined) break;
        await sleep(clock.started + request.dueMillis - Date.now());
        offered += request.events.length;
        const body = JSON.stringify({ events: request.events });
        for (;;) {
          const requestStarted = performance.now();
          const response = await api.accept({ shape: 'batch', body, contentType: 'application/json' });
          recorder.latency(performance.now() - requestStarted);
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
      await sleep(outageStartsMillis);
      progress(`brokers paused for ${pauseMillis / 1_000} s`);
      recorder.faultStarted('brokers unavailable');
      await brokers.pause();
      await sleep(pauseMillis);
      progress(`brokers killed for ${downMillis / 1_000} s`);
      await brokers.kill();
      await sleep(downMillis);
      progress('brokers restarting');
      await brokers.restart();
      clock.recoveredAt = Date.now();
      recorder.faultEnded();
      progress('brokers back; draining the spillover');
    };
    try {
      recorder.start();
      drainer.start();
      await consumer.start();
      progress(`${CLIENTS} clients sending ${events} events at ${EVENTS_PER_SECOND}/s`);
      await Promise.all([outage(), ...Array.from({ length: CLIENTS }, client)]);
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
      recorder.mark('drained and consumed');
    } finally {
      sampling = false;
      await sampler;
      await drainer.stop();
      await drainerProducer.close();
      await consumer.close();
    }
    const timeline = await recorder.stop();

    progress('checking the topic and every event');
    const spilled = resilient.stats().spilled;
    const partitions = await topicEventIds(brokers.stream);
    const onTopic = new Set(partitions.flat());
    const spillOrder = await spilledEventIds(log);
    const membersReplaced = consumer.emulator.stats().membersReplaced ?? { crashed: 0, stalled: 0 };
    const lagAfter = Object.values(await brokers.stream.lag(LOCAL_GROUP, LOCAL_TOPIC)).reduce(
      (a, b) => a + b,
      0,
    );
    const dlq = await brokers.stream
      .endOffsets(LOCAL_DLQ_TOPIC)
      .then((ends) => ends.reduce((a, b) => a + b, 0))
      .catch(() => 0);
    // Every event the clients were answered 202 for (the injected loss among them) must have its effect.
    const acceptedTraffic = traffic.filter((e) => accepted.has(e.eventId) || !sent.has(e.eventId));
    const effects = await readEffects(
      services.shardMap.shards.map((s) => s.url ?? ''),
      PREFIX,
    );
    const counted = tally(acceptedTraffic, effects);
    const disorder = outOfSpillOrder(partitions, spillOrder);
    const problems = [...counted.problems];
    if (maxDepth > spillBound)
      problems.push(`the spillover held ${maxDepth} events, past its bound of ${spillBound}`);
    if (answers.other.length > 0)
      problems.push(`${answers.other.length} answers neither 202 nor 503: ${answers.other[0]}`);
    if (disorder > 0) problems.push(`${disorder} spilled events out of spill order`);
    return score({
      scenario: 'kafka-outage',
      section: 1,
      title: 'Kafka becomes unavailable',
      backend: `${brokers.description}; spillover on the local log; in-process consumer; PostgreSQL (4 shards), Redis`,
      counts: {
        offered: traffic.length,
        accepted: acceptedTraffic.length,
        applied: counted.applied,
        lost: counted.lost,
        duplicateEffects: counted.duplicateEffects,
        deadLettered: dlq,
      },
      alarm: {
        name: 'SpillDepthAlarm (spilled events waiting > 0)',
        series: 'degraded',
        comparison: '>',
        threshold: 0,
        datapoints: 1,
      },
      bound: {
        description: `the spillover drained and every accepted event consumed within ${RECOVER_WITHIN_SECONDS} s of the recovery`,
        recoverWithinSeconds: RECOVER_WITHIN_SECONDS,
      },
      affectedPath: 'ingest (POST /events)',
      timeline,
      faults: recorder.faults,
      recoveredAt: recorder.markOf('drained and consumed'),
      wallSeconds: (performance.now() - started) / 1_000,
      problems,
      details: {
        backend,
        spillBound,
        spilled,
        maxSpillDepth: maxDepth,
        answers,
        backpressure: publisher.backpressure.map(({ error, events: n }) => ({
          retryAfterSeconds: error.retryAfterSeconds,
          depth: error.depth,
          bound: error.bound,
          events: n,
        })),
        spillFailureCodes: publisher.spillFailures.map((e) => e.context.code),
        retryAfterHeaders: [...retryAfterHeaders],
        emptiedAfterRecovery: clock.emptiedAt >= clock.recoveredAt,
        spillOrderLength: spillOrder.length,
        outOfSpillOrder: disorder,
        events: traffic.length,
        acceptedEvents: accepted.size,
        notOnTopic: [...accepted].filter((id) => !onTopic.has(id)),
        distinctOnTopic: onTopic.size,
        lagAfter,
        membersReplaced,
        customers: effects.customers.size,
        expectedCustomers: customers,
        effects: effects.effects,
        appliedEvents: effects.appliedIds.size,
        wrongCustomers: counted.wrongCustomers,
      },
    });
  } finally {
    await brokers.close().catch(() => undefined);
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
