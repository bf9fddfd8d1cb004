// Over 300 lines on purpose: one scenario: the rollback guard read from the synthesized template, the canary
// alias and the canary run are used only by this drill, and its test drives each of them directly.
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Context, MSKEvent } from 'aws-lambda';
import { recordsOf } from '../../lambdas/shared/consumer/batchResponse.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { redriveFailures } from '../../lambdas/shared/replay/redrive.js';
import { loadEnvironmentConfig } from '../../lib/config/index.js';
import { PlatformStage } from '../../lib/PlatformStage.js';
import { LOCAL_DLQ_TOPIC, LOCAL_RETRY_TOPIC, LOCAL_TOPIC, LocalConsumer } from '../consumer/LocalConsumer.js';
import type { MskHandler } from '../esm/index.js';
import { LocalLog } from '../log/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { StreamRedriveSource } from '../redrive/StreamRedriveSource.js';
import { sleep } from '../services/index.js';
import { LocalLogStream } from '../stream/index.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import { publishToLog } from '../traffic/publishToLog.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { readEffects, tally, withInjectedLoss } from './support/effects.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

/** One minute of the templates' alarm periods and deployment intervals is this long here. */
export const MINUTE_MILLIS = 2_000;
const PER_SECOND = 400;
const EVALUATION_TICK_MILLIS = 100;

/** The consumer's rollback alarm on errors and its deployment configuration, read from the synthesized template. */
export function rollbackGuard(name: 'dev' | 'uat') {
  const outdir = mkdtempSync(join(tmpdir(), `cdp-drill-synth-${name}-`));
  let template: Template;
  try {
    // Assets are not bundled: only the template is read.
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stage = new PlatformStage(app, name, { config: loadEnvironmentConfig(name) });
    template = Template.fromStack(stage.consumer);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Array<{
    Properties: Record<string, unknown>;
  }>;
  const errors = alarms.find((a) => a.Properties.MetricName === 'Errors')?.Properties;
  const group = Object.values(template.findResources('AWS::CodeDeploy::DeploymentGroup'))[0] as {
    Properties: { DeploymentConfigName: string };
  };
  if (errors === undefined) throw new Error(`no Errors alarm in the ${name} consumer stack`);
  const canary = /Canary(\d+)Percent(\d+)Minutes/.exec(group.Properties.DeploymentConfigName);
  return {
    alarm: {
      statistic: errors.Statistic as string,
      periodMinutes: Number(errors.Period) / 60,
      threshold: Number(errors.Threshold),
      evaluationPeriods: Number(errors.EvaluationPeriods),
      comparison: errors.ComparisonOperator as string,
    },
    deployment: group.Properties.DeploymentConfigName,
    canaryWeight: canary ? Number(canary[1]) / 100 : 1,
    canaryMinutes: canary ? Number(canary[2]) : 0,
  };
}

export type Guard = ReturnType<typeof rollbackGuard>;

/** Version N+1 that throws on one class of events: phone changes. */
export const throwsOnPhoneChanges =
  (version: MskHandler): MskHandler =>
  async (event, context) => {
    const types = recordsOf(event).map(
      (r) => JSON.parse(Buffer.from(r.value ?? '', 'base64').toString()).type,
    );
    if (types.includes('customer.phone-changed'))
      throw new Error('TypeError: phone.normalize is not a function');
    return version(event, context);
  };

/** Version N+1 that writes a wrong value without throwing: given names in upper case. */
export const shoutsGivenNames =
  (version: MskHandler): MskHandler =>
  (event, context) => {
    const shout = (value: string | undefined) => {
      if (value === undefined) return value;
      const envelope = JSON.parse(Buffer.from(value, 'base64').toString()) as Envelope;
      const given = envelope.payload.givenName;
      if (typeof given === 'string')
        envelope.payload = { ...envelope.payload, givenName: given.toUpperCase() };
      return Buffer.from(JSON.stringify(envelope)).toString('base64');
    };
    const records = Object.fromEntries(
      Object.entries(event.records).map(([key, list]) => [
        key,
        list.map((r) => ({ ...r, value: shout(r.value) })),
      ]),
    );
    return version({ ...event, records } as MSKEvent, context);
  };

/**
 * A weighted alias in front of two versions, as CodeDeploy shifts one: each invocation goes to the new
 * version with the current weight; function errors are counted per alarm period, and the template's alarm
 * is evaluated on them at the end of each period. An alarm moves all traffic back (automatic rollback).
 */
export class CanaryAlias {
  public weight = 0;
  public readonly errorsByPeriod = new Map<number, number>();
  /** When the new version first failed an invocation: the bug became visible to the metric. */
  public firstErrorAt: number | undefined;
  public alarmAt: number | undefined;
  public newVersionInvocations = 0;
  public errors = 0;
  private readonly started = Date.now();
  private readonly periodMillis: number;

  /** @throws {RangeError} when the template's alarm is not one this evaluator reproduces (Sum, >=). */
  public constructor(
    private readonly guard: Guard,
    private readonly next: (version: MskHandler) => MskHandler,
  ) {
    if (guard.alarm.statistic !== 'Sum' || guard.alarm.comparison !== 'GreaterThanOrEqualToThreshold')
      throw new RangeError(`unexpected errors alarm: ${guard.alarm.statistic} ${guard.alarm.comparison}`);
    this.periodMillis = guard.alarm.periodMinutes * MINUTE_MILLIS;
  }

  public route = (current: MskHandler): MskHandler => {
    const candidate = this.next(current);
    return async (event: MSKEvent, context: Context) => {
      const toNew = Math.random() < this.weight;
      if (toNew) this.newVersionInvocations += 1;
      try {
        return await (toNew ? candidate : current)(event, context);
      } catch (error: unknown) {
        this.firstErrorAt ??= Date.now();
        this.errors += 1;
        const period = Math.floor((Date.now() - this.started) / this.periodMillis);
        this.errorsByPeriod.set(period, (this.errorsByPeriod.get(period) ?? 0) + 1);
        throw error;
      }
    };
  };

  /** The alarm as CloudWatch evaluates it: the statistic over each complete period, against the threshold. */
  public evaluate(): void {
    const { alarm } = this.guard;
    const complete = Math.floor((Date.now() - this.started) / this.periodMillis) - 1;
    const breaching = Array.from({ length: alarm.evaluationPeriods }, (_, i) => complete - i).every(
      (period) => (this.errorsByPeriod.get(period) ?? 0) >= alarm.threshold,
    );
    if (breaching && this.alarmAt === undefined) {
      this.alarmAt = Date.now();
      this.weight = 0;
    }
  }
}

export interface CanaryTelemetry {
  alias?: CanaryAlias;
  consumer?: LocalConsumer;
  published: number;
}

export interface CanaryRun {
  readonly guard: Guard;
  readonly alias: CanaryAlias;
  readonly clock: { started: number; deployedAt: number; fullAt: number; recoveredAt: number };
  readonly traffic: Envelope[];
  readonly redrive: Awaited<ReturnType<typeof redriveFailures>>;
}

/**
 * Deploys version N+1 (`next`) behind the environment's canary under steady traffic for `seconds`, with
 * the template's errors alarm rolling it back; then redrives what the rolled-back version failed.
 */
export async function runCanary(
  services: LocalDataServices,
  dir: string,
  run: {
    readonly environment: 'dev' | 'uat';
    readonly prefix: string;
    readonly seed: number;
    readonly next: (v: MskHandler) => MskHandler;
    readonly seconds: number;
    readonly injectLoss?: boolean | undefined;
    readonly recorder?: Recorder;
    /** Filled in as the run goes, for a live reading of it. */
    readonly telemetry?: CanaryTelemetry;
  },
): Promise<CanaryRun> {
  const guard = rollbackGuard(run.environment);
  const mapping = loadEnvironmentConfig(run.environment).consumer;
  const log = await LocalLog.open(join(dir, run.prefix), { fsync: false });
  await log.createTopic(LOCAL_TOPIC, 12);
  const stream = new LocalLogStream(log);
  const alias = new CanaryAlias(guard, run.next);
  if (run.telemetry) run.telemetry.alias = alias;
  const consumer = await LocalConsumer.create({
    stream,
    shardMap: services.shardMap,
    redisUrl: services.redis?.url,
    route: alias.route,
    mapping: { batchSize: mapping.batchSize, retryAttempts: mapping.retryAttempts, batchWindowMillis: 100 },
    settings: { maxEventsPerTransaction: mapping.batchSize },
  });
  if (run.telemetry) run.telemetry.consumer = consumer;
  const traffic = generateTraffic({
    events: PER_SECOND * run.seconds,
    customers: 1_500,
    seed: run.seed,
    customerPrefix: run.prefix,
  });
  const toPublish = withInjectedLoss(traffic, run.injectLoss);
  const clock = { started: Date.now(), deployedAt: 0, fullAt: 0, recoveredAt: 0 };
  let evaluating = true;
  const evaluator = (async () => {
    while (evaluating) {
      alias.evaluate();
      if (alias.alarmAt !== undefined) run.recorder?.faultEnded();
      // CloudWatch evaluates a period as soon as it closes: evaluating on a short tick keeps the alarm
      // within one tick of each period's end, whenever the periods started.
      await sleep(EVALUATION_TICK_MILLIS);
    }
  })();
  await consumer.start();
  try {
    for (let i = 0; i < traffic.length; i += PER_SECOND / 10) {
      await sleep(clock.started + (i / PER_SECOND) * 1_000 - Date.now());
      if (clock.deployedAt === 0 && Date.now() - clock.started >= 2_000) {
        clock.deployedAt = Date.now();
        alias.weight = guard.canaryWeight;
        run.recorder?.faultStarted(`version N+1 deployed (${guard.deployment})`);
      }
      if (
        clock.fullAt === 0 &&
        clock.deployedAt > 0 &&
        alias.alarmAt === undefined &&
        Date.now() - clock.deployedAt >= guard.canaryMinutes * MINUTE_MILLIS
      ) {
        clock.fullAt = Date.now();
        alias.weight = 1;
      }
      const chunk = traffic.slice(i, i + PER_SECOND / 10);
      const kept = new Set(toPublish.map((e) => e.eventId));
      await publishToLog(log, LOCAL_TOPIC, run.injectLoss ? chunk.filter((e) => kept.has(e.eventId)) : chunk);
      if (run.telemetry) run.telemetry.published += chunk.length;
    }
    await consumer.drain({ timeoutMillis: 120_000 });
    // The rolled-back version is gone: what it failed is redriven through the retry topic.
    const eventLog = stream.eventLog();
    const redrive = await redriveFailures(new StreamRedriveSource(stream, LOCAL_DLQ_TOPIC), {
      reader: eventLog,
      writer: eventLog,
      targetTopic: LOCAL_RETRY_TOPIC,
      topics: [LOCAL_TOPIC, LOCAL_RETRY_TOPIC],
    });
    await consumer.drain({ timeoutMillis: 120_000 });
    clock.recoveredAt = Date.now();
    return { guard, alias, clock, traffic, redrive };
  } finally {
    evaluating = false;
    await evaluator;
    await consumer.close();
  }
}

export interface BadDeploymentDetails {
  readonly deployment: string;
  readonly alarmAt: number | undefined;
  readonly firstErrorAt: number | undefined;
  /** From the deployment to the alarm (and the rollback). */
  readonly detectMillis: number;
  /** The bound on detection: the alarm's evaluation periods plus one. */
  readonly detectBoundMillis: number;
  readonly errorsByPeriod: Record<number, number>;
  readonly redrive: {
    readonly replayed: number;
    readonly failedBatches: number;
    readonly unrecognised: number;
    readonly foreign: readonly unknown[];
  };
  readonly effects: number;
  readonly events: number;
  readonly wrongCustomers: string[];
}

/**
 * §7 A deployment introduces a bug: dev deploys version N+1, which throws on every phone change; the
 * template's errors alarm rolls it back, and what it failed is redriven. Nothing may be lost.
 */
export async function runBadDeployment(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<BadDeploymentDetails>> {
  const seconds = options.seconds ?? Math.max(6, Math.round((options.events ?? 4_800) / PER_SECOND));
  const started = performance.now();
  progress('starting PostgreSQL (4 shards) and Redis; synthesizing the dev consumer stack');
  const services = await LocalDataServices.start({ shards: 4, name: 'drill-bad-deploy' });
  const dir = await mkdtemp(join(tmpdir(), 'cdp-drill-bad-deploy-'));
  try {
    const telemetry: CanaryTelemetry = { published: 0 };
    const recorder = new Recorder(() => {
      const totals = telemetry.consumer?.consumer.totals;
      const stats = telemetry.consumer?.emulator.stats();
      return {
        offered: telemetry.published,
        applied: (totals?.applied ?? 0) + (totals?.stale ?? 0),
        errors: telemetry.alias?.errors ?? 0,
        lag: Math.max(0, telemetry.published - (stats?.recordsCommitted ?? 0)),
        degraded: telemetry.alias?.weight ?? 0,
      };
    });
    recorder.start();
    progress(`deploying N+1 (throws on phone changes) under ${PER_SECOND} events/s for ${seconds} s`);
    const { guard, alias, clock, traffic, redrive } = await runCanary(services, dir, {
      environment: 'dev',
      prefix: 'bad-throw',
      seed: 401,
      next: throwsOnPhoneChanges,
      seconds,
      injectLoss: options.injectLoss,
      recorder,
      telemetry,
    });
    const recoveredAt = recorder.mark('redriven and caught up');
    const timeline = await recorder.stop();
    progress('checking every event');
    const effects = await readEffects(
      services.shardMap.shards.map((s) => s.url ?? ''),
      'bad-throw',
    );
    const counted = tally(traffic, effects);
    const detectMillis = (alias.alarmAt ?? Number.NaN) - clock.deployedAt;
    const detectBoundMillis = (guard.alarm.evaluationPeriods + 1) * guard.alarm.periodMinutes * MINUTE_MILLIS;
    const problems = [...counted.problems];
    if (alias.alarmAt === undefined) problems.push('the errors alarm never fired: N+1 was not rolled back');
    else if (detectMillis > detectBoundMillis)
      problems.push(`the alarm fired ${detectMillis} ms after the deployment, past ${detectBoundMillis} ms`);
    return score({
      scenario: 'bad-deployment',
      section: 7,
      title: 'A deployment introduces a bug',
      backend: `local log, in-process consumer behind a weighted alias (dev ${guard.deployment}), PostgreSQL (4 shards), Redis`,
      counts: {
        offered: traffic.length,
        accepted: traffic.length,
        applied: counted.applied,
        lost: counted.lost,
        duplicateEffects: counted.duplicateEffects,
        deadLettered: redrive.replayed,
      },
      alarm: {
        name: `consumer ErrorsAlarm (Errors Sum >= ${guard.alarm.threshold} per ${guard.alarm.periodMinutes} min; 1 min = ${MINUTE_MILLIS / 1_000} s here)`,
        series: 'errorsPerSecond',
        comparison: '>=',
        threshold: guard.alarm.threshold,
        datapoints: guard.alarm.evaluationPeriods,
      },
      // The alias evaluates the template's alarm itself, per period, as CloudWatch does.
      detectedAt: alias.alarmAt === undefined ? undefined : recorder.at(alias.alarmAt),
      bound: {
        description: 'redriven and caught up within 120 s of the rollback',
        recoverWithinSeconds: 120,
      },
      affectedPath: 'consumer',
      timeline,
      faults: recorder.faults,
      recoveredAt,
      wallSeconds: (performance.now() - started) / 1_000,
      problems,
      details: {
        deployment: guard.deployment,
        alarmAt: alias.alarmAt,
        firstErrorAt: alias.firstErrorAt,
        detectMillis,
        detectBoundMillis,
        errorsByPeriod: Object.fromEntries(alias.errorsByPeriod),
        redrive: {
          replayed: redrive.replayed,
          failedBatches: redrive.failedBatches,
          unrecognised: redrive.unrecognised,
          foreign: redrive.foreign,
        },
        effects: effects.effects,
        events: traffic.length,
        wrongCustomers: counted.wrongCustomers,
      },
    });
  } finally {
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
