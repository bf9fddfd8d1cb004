import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConsumerProbe } from '../../lambdas/shared/probes/consumerProbe.js';
import { ShardRouter } from '../../lambdas/shared/sharding/index.js';
import { LOCAL_TOPIC, LocalConsumer } from '../../local/consumer/LocalConsumer.js';
import {
  MINUTE_MILLIS,
  runBadDeployment,
  runCanary,
  shoutsGivenNames,
  throwsOnPhoneChanges,
} from '../../local/drills/badDeployment.js';
import { expectedState } from '../../local/drills/support/expectedState.js';
import { snapshotShards } from '../../local/drills/support/shardState.js';
import type { MskHandler } from '../../local/esm/index.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';

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

  const run = (
    name: 'dev' | 'uat',
    prefix: string,
    seed: number,
    next: (v: MskHandler) => MskHandler,
    seconds: number,
  ) => runCanary(services, dir, { environment: name, prefix, seed, next, seconds });

  it('rolls a throwing version back on the template alarm and redrives what it failed: 0 lost, state exact', async () => {
    // Act: dev deploys all at once; N+1 throws on every phone change.
    const result = await runBadDeployment({ seconds: 12 });

    // Assess
    const { details } = result;
    console.info(
      `bad deployment drill (throwing, dev ${details.deployment}, 1 min = ${MINUTE_MILLIS} ms): errors per period ` +
        `${JSON.stringify(details.errorsByPeriod)}; alarm ${details.detectMillis} ms after the deployment ` +
        `(${((details.alarmAt ?? 0) - (details.firstErrorAt ?? 0)).toString()} ms after the first failed invocation), ` +
        `traffic back on N at once; redrove ${details.redrive.replayed} records of ${details.redrive.failedBatches} ` +
        `failed batches; recovered ${result.recoverSeconds} s after the alarm; ${details.effects} of ${details.events} events applied`,
    );
    expect(details.alarmAt).toBeDefined();
    expect(details.detectMillis).toBeLessThanOrEqual(details.detectBoundMillis);
    // Whether a batch exhausted its retries before the rollback depends on how fast the retries ran: each
    // on-failure record is redriven, and none is lost either way.
    expect(details.firstErrorAt).toBeDefined();
    expect(details.redrive.unrecognised).toBe(0);
    expect(details.redrive.foreign).toEqual([]);
    expect(details.effects).toBe(details.events);
    expect(details.wrongCustomers).toEqual([]);
    expect(result.counts).toMatchObject({ lost: 0, duplicateEffects: 0 });
    expect(result.passed).toBe(true);
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
