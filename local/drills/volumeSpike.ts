// Over 300 lines on purpose: one scenario: the spike run, its member pool and the drill that scores them are
// used only together, and the spike test drives runSpike and memberPool directly; its targets live in
// ./support.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import type { ScalingPolicy } from '../../lambdas/shared/scaling/index.js';
import {
  LOCAL_DLQ_TOPIC,
  LOCAL_GROUP,
  LOCAL_RETRY_GROUP,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
} from '../consumer/LocalConsumer.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { LocalScaler, type ScalingSample } from '../scaling/LocalScaler.js';
import { sleep, waitFor } from '../services/index.js';
import { kafkaAvailability } from '../services/kafkaDistribution.js';
import type { LocalStream } from '../stream/index.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { type ConsumerProcess, exited, startConsumerProcess } from './support/consumerProcesses.js';
import { readEffects, tally, withInjectedLoss } from './support/effects.js';
import { kafkaTarget, logTarget, type SpikeTarget } from './support/spikeTargets.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

/** The lag thresholds of the local scaler (the scaler's own high and low alarms in AWS). */
export const THRESHOLDS = { high: 2_000, low: 200 };
/** Members are poller-like: one partition at a time, small batches. */
const MEMBER_ENV = { CDP_CONCURRENCY: '1', CDP_BATCH_SIZE: '20' };
export const POLICY: ScalingPolicy = { floor: 1, ceiling: 4, step: 1, cooldownMillis: 3_000 };
const PARTITIONS = 12;

export interface SpikeShape {
  readonly steadyPerSecond: number;
  readonly burstPerSecond: number;
  readonly steadyBeforeMillis: number;
  readonly burstMillis: number;
  readonly steadyAfterMillis: number;
}

/** Steady traffic, then ten times as much for 30 s, then steady again. */
export const TEST_SPIKE: SpikeShape = {
  steadyPerSecond: 100,
  burstPerSecond: 1_000,
  steadyBeforeMillis: 5_000,
  burstMillis: 30_000,
  steadyAfterMillis: 10_000,
};

export interface SpikeRun {
  readonly peakLag: number;
  /** From the end of the burst until the lag was back below the high threshold. */
  readonly belowThresholdMillis: number;
  /** From the end of the burst until the lag was 0. */
  readonly drainedMillis: number;
  readonly maxMembers: number;
  readonly finalMembers: number;
  readonly traffic: readonly Envelope[];
  readonly published: readonly Envelope[];
}

export type { SpikeTarget } from './support/spikeTargets.js';

export const totalLag = async (stream: LocalStream): Promise<number> => {
  const lags = await Promise.all([
    stream.lag(LOCAL_GROUP, LOCAL_TOPIC),
    stream.lag(LOCAL_RETRY_GROUP, LOCAL_RETRY_TOPIC),
  ]);
  return lags.flatMap((lag) => Object.values(lag)).reduce((a, b) => a + b, 0);
};

/** Consumer processes of the mappings' groups, started and stopped (SIGTERM: batches finish) on demand. */
export function memberPool(
  services: LocalDataServices,
  env: Readonly<Record<string, string>>,
  children: Set<ConsumerProcess>,
) {
  const members: ConsumerProcess[] = [];
  const memberEnv = {
    CDP_SHARD_MAP: JSON.stringify(services.shardMap),
    CDP_REDIS_URL: services.redis?.url ?? '',
    ...MEMBER_ENV,
    ...env,
  };
  return {
    members,
    async scaleTo(count: number): Promise<void> {
      while (members.length < count) {
        const member = startConsumerProcess(memberEnv);
        children.add(member);
        members.push(member);
        await waitFor(() => member.progress.some((line) => line.type === 'started'), {
          timeoutMs: 60_000,
          description: 'a new consumer member to start',
        });
      }
      while (members.length > count) {
        const member = members.pop();
        member?.child.kill('SIGTERM');
        if (member) await exited(member.child);
      }
    },
  };
}

/** One spike through the members, scaled on lag (or held at one member); the recorder follows it. */
export async function runSpike(
  services: LocalDataServices,
  target: SpikeTarget,
  run: {
    readonly prefix: string;
    readonly seed: number;
    readonly scaled: boolean;
    readonly shape: SpikeShape;
    readonly injectLoss?: boolean | undefined;
    readonly children: Set<ConsumerProcess>;
    readonly recorder?: Recorder;
    readonly counters?: { offered: number; lag: number; members: number };
  },
): Promise<SpikeRun> {
  const { shape } = run;
  const pool = memberPool(services, target.memberEnv, run.children);
  await pool.scaleTo(1);
  const samples: ScalingSample[] = [];
  const policy = run.scaled
    ? { ...POLICY, ceiling: Math.min(POLICY.ceiling, target.maxMembers) }
    : { ...POLICY, ceiling: 1 };
  const scaler = new LocalScaler({
    policy,
    thresholds: THRESHOLDS,
    lowLagSamples: 4,
    intervalMillis: 500,
    initial: 1,
    lag: () => totalLag(target.stream),
    scaleTo: (members) => pool.scaleTo(members),
    onSample: (sample) => {
      samples.push(sample);
      if (run.counters) {
        run.counters.lag = sample.lag;
        run.counters.members = sample.members;
      }
    },
  });
  const phases = [
    { perSecond: shape.steadyPerSecond, millis: shape.steadyBeforeMillis, burst: false },
    { perSecond: shape.burstPerSecond, millis: shape.burstMillis, burst: true },
    { perSecond: shape.steadyPerSecond, millis: shape.steadyAfterMillis, burst: false },
  ];
  const events = phases.reduce((sum, p) => sum + (p.perSecond * p.millis) / 1_000, 0);
  const traffic = generateTraffic({ events, customers: 3_000, seed: run.seed, customerPrefix: run.prefix });
  const kept = new Set(withInjectedLoss(traffic, run.injectLoss).map((e) => e.eventId));
  const publisher = target.publish(`${run.prefix}-producer`);
  const clock = { burstEndsAt: 0, drainedAt: 0 };
  const publish = async () => {
    let sent = 0;
    let phaseStart = Date.now();
    for (const phase of phases) {
      const count = (phase.perSecond * phase.millis) / 1_000;
      if (phase.burst) run.recorder?.faultStarted(`${phase.perSecond / shape.steadyPerSecond}x traffic`);
      for (let i = 0; i < count; i += phase.perSecond / 10) {
        await sleep(phaseStart + (i / phase.perSecond) * 1_000 - Date.now());
        const chunk = traffic.slice(sent, sent + phase.perSecond / 10);
        await publisher.publish(chunk.filter((e) => kept.has(e.eventId)));
        sent += phase.perSecond / 10;
        if (run.counters) run.counters.offered += chunk.length;
      }
      phaseStart += phase.millis;
      if (phase.burst) {
        clock.burstEndsAt = Date.now();
        run.recorder?.faultEnded();
      }
    }
  };
  scaler.start();
  try {
    await publish();
    await publisher.close();
    await waitFor(async () => (await totalLag(target.stream)) === 0, {
      timeoutMs: 180_000,
      intervalMs: 250,
      description: 'the members to drain the lag',
    });
    clock.drainedAt = Date.now();
    // Scale-in takes the low-lag readings and a cooldown per step.
    await waitFor(() => !run.scaled || scaler.current === POLICY.floor, {
      timeoutMs: 60_000,
      description: 'the scaler to come back to the floor',
    });
  } finally {
    await scaler.stop();
    await pool.scaleTo(0);
  }
  const afterBurst = samples.filter((s) => s.at >= clock.burstEndsAt);
  const firstBelow = afterBurst.find((s) => s.lag < THRESHOLDS.high)?.at ?? Number.NaN;
  return {
    peakLag: Math.max(...samples.map((s) => s.lag)),
    belowThresholdMillis: firstBelow - clock.burstEndsAt,
    drainedMillis: clock.drainedAt - clock.burstEndsAt,
    maxMembers: Math.max(...samples.map((s) => s.members)),
    finalMembers: scaler.current,
    traffic,
    published: traffic.filter((e) => kept.has(e.eventId)),
  };
}

export interface VolumeSpikeDetails {
  readonly backend: 'kafka' | 'log';
  readonly shape: SpikeShape;
  readonly peakLag: number;
  readonly belowThresholdMillis: number;
  readonly drainedMillis: number;
  readonly maxMembers: number;
  readonly finalMembers: number;
  readonly effects: number;
  readonly events: number;
  readonly wrongCustomers: string[];
}

/**
 * §6 Message volume spikes: steady traffic, ten times as much for `seconds`, steady again; the consumer
 * members are scaled on lag (the lag scaler's thresholds) and must drain below the high threshold, then
 * scale back in, with every event applied once.
 */
export async function runVolumeSpike(
  options: DrillOptions & { readonly backend?: 'kafka' | 'log' },
  progress: Progress = () => undefined,
): Promise<DrillResult<VolumeSpikeDetails>> {
  const burstSeconds = options.seconds ?? 10;
  const steady = Math.max(10, Math.round((options.events ?? 13_000) / (burstSeconds * 10 + 10)));
  const shape: SpikeShape = {
    steadyPerSecond: steady,
    burstPerSecond: steady * 10,
    steadyBeforeMillis: 3_000,
    burstMillis: burstSeconds * 1_000,
    steadyAfterMillis: 7_000,
  };
  const availability = await kafkaAvailability();
  const backend = options.backend ?? (availability.available ? 'kafka' : 'log');
  const started = performance.now();
  progress(
    backend === 'kafka'
      ? 'starting PostgreSQL (4 shards), Redis and a 1-node Kafka cluster'
      : `Kafka cannot run here (${availability.reason ?? 'the local log was asked for'}): one member on the local log, no scaling`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'cdp-drill-spike-'));
  const [services, target] = await Promise.all([
    LocalDataServices.start({ shards: 4, name: 'drill-spike' }),
    backend === 'kafka' ? kafkaTarget(POLICY.ceiling) : logTarget(dir, PARTITIONS),
  ]);
  const children = new Set<ConsumerProcess>();
  try {
    const counters = { offered: 0, lag: 0, members: 1 };
    const recorder = new Recorder(() => ({
      offered: counters.offered,
      applied: counters.offered - counters.lag,
      errors: 0,
      lag: counters.lag,
      degraded: counters.members,
    }));
    recorder.start();
    progress(
      `${shape.steadyPerSecond}/s, then ${shape.burstPerSecond}/s for ${burstSeconds} s, then ${shape.steadyPerSecond}/s`,
    );
    const spike = await runSpike(services, target, {
      prefix: 'spike',
      seed: 302,
      scaled: true,
      shape,
      injectLoss: options.injectLoss,
      children,
      recorder,
      counters,
    });
    const timeline = await recorder.stop();
    const burstEnd = recorder.faults[0]?.to;
    const recoveredAt =
      burstEnd === undefined || Number.isNaN(spike.belowThresholdMillis)
        ? undefined
        : burstEnd + spike.belowThresholdMillis / 1_000;
    progress('checking every event');
    const effects = await readEffects(
      services.shardMap.shards.map((s) => s.url ?? ''),
      'spike',
    );
    const counted = tally(spike.traffic, effects);
    const dlq = await target.stream
      .endOffsets(LOCAL_DLQ_TOPIC)
      .then((ends) => ends.reduce((a, b) => a + b, 0))
      .catch(() => 0);
    return score({
      scenario: 'volume-spike',
      section: 6,
      title: 'Message volume spikes suddenly',
      backend:
        backend === 'kafka'
          ? 'Apache Kafka (1 KRaft node), consumer processes scaled on lag (1-4), PostgreSQL (4 shards), Redis'
          : 'the local log (Kafka cannot run here), one consumer process, no scaling; PostgreSQL (4 shards), Redis',
      counts: {
        offered: spike.traffic.length,
        accepted: spike.traffic.length,
        applied: counted.applied,
        lost: counted.lost,
        duplicateEffects: counted.duplicateEffects,
        deadLettered: dlq,
      },
      alarm: {
        name: `HighLagAlarm (lag >= ${THRESHOLDS.high} records in 2 datapoints)`,
        series: 'lag',
        comparison: '>=',
        threshold: THRESHOLDS.high,
        datapoints: 2,
      },
      bound: {
        description: `lag below ${THRESHOLDS.high} within 120 s of the burst`,
        recoverWithinSeconds: 120,
      },
      affectedPath: 'consumer',
      timeline,
      faults: recorder.faults,
      // Recovered when the lag was back below the high threshold.
      recoveredAt,
      wallSeconds: (performance.now() - started) / 1_000,
      problems: counted.problems,
      details: {
        backend,
        shape,
        peakLag: spike.peakLag,
        belowThresholdMillis: spike.belowThresholdMillis,
        drainedMillis: spike.drainedMillis,
        maxMembers: spike.maxMembers,
        finalMembers: spike.finalMembers,
        effects: effects.effects,
        events: spike.traffic.length,
        wrongCustomers: counted.wrongCustomers,
      },
    });
  } finally {
    for (const { child } of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await target.close();
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
