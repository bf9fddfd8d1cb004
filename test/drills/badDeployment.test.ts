import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, MSKEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordsOf } from '../../lambdas/shared/consumer/batchResponse.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { runConsumerProbe } from '../../lambdas/shared/probes/consumerProbe.js';
import { redriveFailures } from '../../lambdas/shared/replay/redrive.js';
import { ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { loadEnvironmentConfig } from '../../lib/config/index.js';
import {
  LOCAL_DLQ_TOPIC,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
  LocalConsumer,
} from '../../local/consumer/LocalConsumer.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import type { MskHandler } from '../../local/esm/index.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { StreamRedriveSource } from '../../local/redrive/StreamRedriveSource.js';
import { sleep } from '../../local/services/index.js';
import { LocalLogStream } from '../../local/stream/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { publishToLog } from '../../local/traffic/publishToLog.js';
import { synthesize } from '../support/synth.js';

/** One minute of the templates' alarm periods and deployment intervals is this long here. */
const MINUTE_MILLIS = 2_000;
const PER_SECOND = 400;

/** The consumer's rollback alarm on errors and its deployment configuration, read from the synthesized template. */
function rollbackGuard(name: 'dev' | 'uat') {
  const template = synthesize(name).consumer;
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

type Guard = ReturnType<typeof rollbackGuard>;

/** Version N+1 that throws on one class of events: phone changes. */
const throwsOnPhoneChanges =
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
const shoutsGivenNames =
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
class CanaryAlias {
  public weight = 0;
  public readonly errorsByPeriod = new Map<number, number>();
  /** When the new version first failed an invocation: the bug became visible to the metric. */
  public firstErrorAt: number | undefined;
  public alarmAt: number | undefined;
  public newVersionInvocations = 0;
  private readonly started = Date.now();
  private readonly periodMillis: number;

  public constructor(
    private readonly guard: Guard,
    private readonly next: (version: MskHandler) => MskHandler,
  ) {
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
        const period = Math.floor((Date.now() - this.started) / this.periodMillis);
        this.errorsByPeriod.set(period, (this.errorsByPeriod.get(period) ?? 0) + 1);
        throw error;
      }
    };
  };

  /** The alarm as CloudWatch evaluates it: the statistic over each complete period, against the threshold. */
  public evaluate(): void {
    const { alarm } = this.guard;
    expect(alarm.statistic).toBe('Sum');
    expect(alarm.comparison).toBe('GreaterThanOrEqualToThreshold');
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

describe('drill: a deployment that introduces a bug (canary, alarms, rollback, redrive, probe)', () => {
  let services: LocalDataServices;
  let dir: string;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 4, name: 'bad-deploy' });
    dir = await mkdtemp(join(tmpdir(), 'cdp-bad-deploy-'));
  });

  afterAll(async () => {
    await services?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(
    name: 'dev' | 'uat',
    prefix: string,
    seed: number,
    next: (v: MskHandler) => MskHandler,
    seconds: number,
  ) {
    const guard = rollbackGuard(name);
    const mapping = loadEnvironmentConfig(name).consumer;
    const log = await LocalLog.open(join(dir, prefix), { fsync: false });
    await log.createTopic(LOCAL_TOPIC, 12);
    const stream = new LocalLogStream(log);
    const alias = new CanaryAlias(guard, next);
    const consumer = await LocalConsumer.create({
      stream,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
      route: alias.route,
      mapping: { batchSize: mapping.batchSize, retryAttempts: mapping.retryAttempts, batchWindowMillis: 100 },
      settings: { maxEventsPerTransaction: mapping.batchSize },
    });
    const traffic = generateTraffic({
      events: PER_SECOND * seconds,
      customers: 1_500,
      seed,
      customerPrefix: prefix,
    });
    const clock = { started: Date.now(), deployedAt: 0, fullAt: 0, recoveredAt: 0 };
    let evaluating = true;
    const evaluator = (async () => {
      while (evaluating) {
        alias.evaluate();
        await sleep(guard.alarm.periodMinutes * MINUTE_MILLIS);
      }
    })();
    await consumer.start();
    try {
      for (let i = 0; i < traffic.length; i += PER_SECOND / 10) {
        await sleep(clock.started + (i / PER_SECOND) * 1_000 - Date.now());
        if (clock.deployedAt === 0 && Date.now() - clock.started >= 2_000) {
          clock.deployedAt = Date.now();
          alias.weight = guard.canaryWeight;
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
        await publishToLog(log, LOCAL_TOPIC, traffic.slice(i, i + PER_SECOND / 10));
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

  it('rolls a throwing version back on the template alarm and redrives what it failed: 0 lost, state exact', async () => {
    // Act: dev deploys all at once; N+1 throws on every phone change.
    const { guard, alias, clock, traffic, redrive } = await run(
      'dev',
      'bad-throw',
      401,
      throwsOnPhoneChanges,
      12,
    );

    // Assess
    const detectMillis = (alias.alarmAt ?? Number.NaN) - clock.deployedAt;
    const sinceFirstError = (alias.alarmAt ?? Number.NaN) - (alias.firstErrorAt ?? Number.NaN);
    const snapshot = await snapshotShards(services);
    const mine = [...snapshot.customers].filter(([id]) => id.startsWith('bad-throw-'));
    console.info(
      `bad deployment drill (throwing, dev ${guard.deployment}, alarm Errors Sum >= ${guard.alarm.threshold} in ` +
        `${guard.alarm.evaluationPeriods} period(s) of ${guard.alarm.periodMinutes} min, 1 min = ${MINUTE_MILLIS} ms): ` +
        `errors per period ${JSON.stringify(Object.fromEntries(alias.errorsByPeriod))}; alarm ${detectMillis} ms after ` +
        `the deployment (${(detectMillis / MINUTE_MILLIS).toFixed(1)} template minutes; ` +
        `${sinceFirstError} ms after the first failed invocation), traffic back on N at once; ` +
        `redrove ${redrive.replayed} records of ${redrive.failedBatches} failed batches; recovered ` +
        `${clock.recoveredAt - (alias.alarmAt ?? 0)} ms after the alarm; ${mine.reduce((s, [, c]) => s + c.event_count, 0)} of ${traffic.length} events applied`,
    );
    expect(alias.alarmAt).toBeDefined();
    expect(detectMillis).toBeLessThanOrEqual(
      (guard.alarm.evaluationPeriods + 1) * guard.alarm.periodMinutes * MINUTE_MILLIS,
    );
    // Whether a batch exhausted its retries before the rollback depends on how fast the retries ran: each
    // on-failure record is redriven, and none is lost either way.
    expect(alias.firstErrorAt).toBeDefined();
    expect(redrive.unrecognised).toBe(0);
    expect(redrive.foreign).toEqual([]);
    expect(mine.reduce((sum, [, c]) => sum + c.event_count, 0)).toBe(traffic.length);
    for (const [id, state] of expectedState(traffic)) expect(snapshot.customers.get(id)).toEqual(state);
  }, 240_000);

  it('keeps the alarm silent on a version that writes wrong values; the pre-traffic probe refuses it', async () => {
    // Prepare: the probe against each version, as the BeforeAllowTraffic hook runs it.
    const log = await LocalLog.open(join(dir, 'probe'), { fsync: false });
    await log.createTopic(LOCAL_TOPIC, 12);
    const consumer = await LocalConsumer.create({
      stream: log,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
    });
    const current: MskHandler = (event, context) => consumer.consumer.handle(event, context);
    const context = { awsRequestId: 'probe' } as Context;
    const probe = (version: MskHandler) =>
      runConsumerProbe({
        invoke: (event) => version(event, context),
        readGivenName: async (shardId, customerId) => {
          const client = services.shardClient(shardId);
          try {
            const { rows } = await client.query<{ given_name: string | null }>(
              'SELECT given_name FROM customers WHERE customer_id = :id',
              { id: customerId },
            );
            return rows[0]?.given_name ?? null;
          } finally {
            await client.close();
          }
        },
        router: new ShardRouter(services.shardMap),
        shardIds: services.shardMap.shards.map((s) => s.id),
        topic: LOCAL_TOPIC,
        eventSourceArn: 'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-local/probe',
      });

    // Act
    const [onCurrent, onSilentBug, onThrowingBug] = [
      await probe(current),
      await probe(shoutsGivenNames(current)),
      await probe(throwsOnPhoneChanges(current)),
    ];
    await consumer.close();
    const canary = await run('uat', 'bad-silent', 402, shoutsGivenNames, 6);

    // Assess: the alarms see nothing of the silent bug; the probe does; the throwing bug slips past the
    // probe (it covers profile changes only) and is the canary's and the alarm's to catch.
    const snapshot = await snapshotShards(services);
    const wrong = [...expectedState(canary.traffic)].filter(
      ([id, state]) => snapshot.customers.get(id)?.given_name !== state.given_name,
    ).length;
    console.info(
      `bad deployment drill (silent, uat ${canary.guard.deployment} at ${canary.guard.canaryWeight * 100}%): ` +
        `${canary.alias.newVersionInvocations} invocations on N+1, errors ${JSON.stringify(Object.fromEntries(canary.alias.errorsByPeriod))}, ` +
        `alarm ${canary.alias.alarmAt === undefined ? 'never fired' : 'fired'}; ${wrong} customers left with a wrong given name; ` +
        `pre-traffic probe: N ${onCurrent.passed ? 'passes' : 'fails'}, silent N+1 ${onSilentBug.passed ? 'passes' : `fails (${onSilentBug.problems[0]})`}, ` +
        `throwing N+1 ${onThrowingBug.passed ? 'passes' : 'fails'}`,
    );
    expect(onCurrent).toEqual({ passed: true, problems: [] });
    expect(onSilentBug.passed).toBe(false);
    expect(onSilentBug.problems).toHaveLength(4);
    expect(onThrowingBug.passed).toBe(true);
    expect(canary.alias.alarmAt).toBeUndefined();
    expect(wrong).toBeGreaterThan(0);
    // Probe customers never show in queries, the ETL or the index.
    const client = services.shardClient('shard-0');
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM customers WHERE customer_id LIKE 'cdp-probe-%'",
    );
    await client.close();
    expect(rows[0]?.n).toBe(1);
  }, 240_000);
});
