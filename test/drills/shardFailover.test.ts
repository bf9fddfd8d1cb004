import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import {
  parseShardMap,
  type ShardMap,
  ShardRouter,
  writeShardMapFile,
} from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import {
  LOCAL_DLQ_TOPIC,
  LOCAL_GROUP,
  LOCAL_RETRY_GROUP,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
} from '../../local/consumer/LocalConsumer.js';
import { type ExpectedCustomer, expectedState } from '../../local/drills/support/expectedState.js';
import { LocalLog } from '../../local/log/index.js';
import { PostgresServer, sleep, waitFor } from '../../local/services/index.js';
import { generateTraffic } from '../../local/traffic/generateTraffic.js';
import { publishToLog } from '../../local/traffic/publishToLog.js';

const PARTITIONS = 12;
const EVENTS = 24_000;
const CUSTOMERS = 1_500;
/** Published before the consumer starts; the rest is appended while it runs, through the failover. */
const PUBLISHED_UP_FRONT = 2_000;
const APPEND_CHUNK = 150;
const APPEND_EVERY_MILLIS = 100;
const RESUME_BUDGET_MILLIS = 5_000;
/** How long shard-3 stays down before its standby is promoted: the failure being noticed, and then some. */
const OUTAGE_MILLIS = 8_000;
/**
 * From here on into the outage shard-3's breaker is open and its records are parked: the other shards
 * must then grow in every one of the outage's remaining windows, never stalling on shard-3's records.
 */
const PARKING_GRACE_MILLIS = 3_000;
const OUTAGE_WINDOWS = 3;
const SAMPLE_EVERY_MILLIS = 250;

interface Progress {
  type: string;
  recordsCommitted?: number;
  sentToDestination?: number;
}

interface ConsumerProcess {
  readonly child: ChildProcess;
  readonly progress: Progress[];
  readonly logs: Array<{ level?: string; message?: string; timestamp?: string }>;
  /** Anything else it wrote to stderr (a crash, for one). */
  readonly otherOutput: string[];
}

/** Starts the consumer as its own process (as a Lambda execution environment runs apart from the ESM). */
function startConsumerProcess(env: Record<string, string>): ConsumerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/consumer/consumerProcess.ts'], {
    env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const progress: Progress[] = [];
  const logs: ConsumerProcess['logs'] = [];
  const otherOutput: string[] = [];
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) progress.push(JSON.parse(line) as Progress);
    });
  }
  if (child.stderr) {
    // Structured logs; the per-event warnings of the outage are many, so they are kept, not echoed.
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.startsWith('{')) logs.push(JSON.parse(line) as ConsumerProcess['logs'][number]);
      else otherOutput.push(line);
    });
  }
  return { child, progress, logs, otherOutput };
}

/** Ends a wait at once when the consumer process died: the drill is about it surviving the failover. */
function assertRunning(consumer: ConsumerProcess): void {
  const { exitCode, signalCode } = consumer.child;
  if (exitCode === null && signalCode === null) return;
  throw new Error(
    `the consumer process exited (${signalCode ?? exitCode}):\n${consumer.otherOutput.slice(-20).join('\n')}`,
  );
}

const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => resolve(signal ?? code));
  });

async function withClient<T>(url: string, work: (client: PgSqlClient) => Promise<T>): Promise<T> {
  const client = new PgSqlClient({ name: 'drill-check', connectionString: url, maxConnections: 1 });
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

const appliedEvents = (url: string): Promise<number> =>
  withClient(url, async (client) => {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM applied_events');
    return rows[0]?.n ?? 0;
  });

const customersOf = (url: string): Promise<Array<{ customer_id: string } & ExpectedCustomer>> =>
  withClient(url, async (client) => {
    const { rows } = await client.query<{ customer_id: string } & ExpectedCustomer>(
      'SELECT customer_id, email, phone, given_name, event_count::int AS event_count FROM customers',
    );
    return rows;
  });

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

describe('shard failover drill: promote the replica of a failed shard, repoint it, no restart', () => {
  let others: PostgresServer;
  let primary: PostgresServer;
  let standby: PostgresServer;
  let dir: string;
  let mapFile: string;
  let shardMap: ShardMap;
  const children: ChildProcess[] = [];
  /** The background publisher; stopped before the log is removed, whatever the test's outcome. */
  const publisher = { stopped: false, done: Promise.resolve() };

  beforeAll(async () => {
    // Synchronous replication: a commit on shard-3's primary is acknowledged only once the standby has
    // the WAL, so promoting the standby never loses a transaction the consumer saw commit (and whose
    // offsets it then committed). Aurora's storage quorum gives the same guarantee in AWS. The standby
    // inherits the setting; once promoted it has no standby of its own and stops waiting for one.
    [others, primary] = await Promise.all([
      PostgresServer.start({ name: 'failover-shards-0-2' }),
      PostgresServer.start({ name: 'failover-shard-3', settings: { synchronous_standby_names: '*' } }),
    ]);
    // From here on every commit on shard-3's primary waits for the standby (pg_stat_replication: sync).
    standby = await primary.createStandby();
    const urls = await others.createShardDatabases(3, 'failover');
    await primary.createDatabases(['failover_3']);
    urls.push(primary.url('failover_3'));
    await Promise.all(urls.map((url) => withClient(url, (client) => migrateShard(client))));
    shardMap = parseShardMap({ version: 1, shards: urls.map((url, i) => ({ id: `shard-${i}`, url })) });
    dir = await mkdtemp(join(tmpdir(), 'cdp-failover-'));
    mapFile = join(dir, 'shard-map.json');
    await writeShardMapFile(mapFile, shardMap);
  });

  afterAll(async () => {
    publisher.stopped = true;
    await publisher.done.catch(() => undefined);
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([others?.destroy(), primary?.destroy(), standby?.destroy()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps applying shards 0-2 throughout shard-3's outage, resumes shard-3 on its promoted standby within 5 s of the repoint, and loses nothing", async () => {
    // Prepare: the standby is synchronous, traffic is partly published, the consumer follows the map file.
    const replication = await primary.query<{ application_name: string; sync_state: string }>(
      'SELECT application_name, sync_state FROM pg_stat_replication',
    );
    expect(replication.rows).toEqual([expect.objectContaining({ sync_state: 'sync' })]);
    const logDir = join(dir, 'log');
    const log = await LocalLog.open(logDir);
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({
      events: EVENTS,
      customers: CUSTOMERS,
      seed: 37,
      customerPrefix: 'failover',
    });
    const router = new ShardRouter(shardMap);
    const expectedPerShard = [0, 1, 2, 3].map(
      (i) => traffic.filter((e) => router.shardFor(e.customerId).id === `shard-${i}`).length,
    );
    await publishToLog(log, LOCAL_TOPIC, traffic.slice(0, PUBLISHED_UP_FRONT));
    const consumer = startConsumerProcess({
      CDP_LOG_DIR: logDir,
      CDP_PARTITIONS: String(PARTITIONS),
      CDP_SHARD_MAP_FILE: mapFile,
    });
    children.push(consumer.child);
    let published = PUBLISHED_UP_FRONT;
    publisher.done = (async () => {
      while (published < EVENTS && !publisher.stopped) {
        const next: Envelope[] = traffic.slice(published, published + APPEND_CHUNK);
        await publishToLog(log, LOCAL_TOPIC, next);
        published += next.length;
        await sleep(APPEND_EVERY_MILLIS);
      }
    })();
    // Marked handled here; a publishing failure still fails the test where the publisher is awaited.
    publisher.done.catch(() => undefined);
    const healthyUrls = shardMap.shards.slice(0, 3).map((s) => s.url ?? '');
    const healthyApplied = async () => sum(await Promise.all(healthyUrls.map(appliedEvents)));
    await waitFor(
      async () => {
        assertRunning(consumer);
        return (await appliedEvents(primary.url('failover_3'))) >= 500;
      },
      { timeoutMs: 30_000, description: 'shard-3 to apply 500 events on its primary' },
    );

    // Act 1: shard-3's primary fails; the standby is promoted and stops waiting for a standby of its own.
    const failedAt = performance.now();
    await primary.stop('immediate');
    const publishedAtFailure = published;
    // Every partition also carries shard-3 customers: once shard-3's breaker is open its records are parked
    // on the retry topic, so shards 0-2 keep being applied throughout the outage.
    const outageSamples = [{ at: 0, applied: await healthyApplied() }];
    while (performance.now() - failedAt < OUTAGE_MILLIS) {
      await sleep(SAMPLE_EVERY_MILLIS);
      outageSamples.push({ at: performance.now() - failedAt, applied: await healthyApplied() });
    }
    await standby.promote();
    await standby.query("ALTER SYSTEM SET synchronous_standby_names = ''");
    await standby.query('SELECT pg_reload_conf()');
    const promotedAt = performance.now();
    const standbyUrl = standby.url('failover_3');
    const onStandbyBeforeRepoint = await appliedEvents(standbyUrl);

    // Act 2: repoint shard-3 in the map file; the running consumer follows it.
    await writeShardMapFile(mapFile, {
      ...shardMap,
      shards: shardMap.shards.map((s) => (s.id === 'shard-3' ? { ...s, url: standbyUrl } : s)),
    });
    const repointedAt = performance.now();
    await waitFor(
      async () => {
        assertRunning(consumer);
        return (await appliedEvents(standbyUrl)) > onStandbyBeforeRepoint;
      },
      { timeoutMs: 30_000, intervalMs: 25, description: 'shard-3 to apply events on the promoted standby' },
    );
    const resumedAfterMillis = performance.now() - repointedAt;
    await publisher.done;
    await waitFor(
      async () => {
        assertRunning(consumer);
        const lags = await Promise.all([
          log.lag(LOCAL_GROUP, LOCAL_TOPIC),
          log.lag(LOCAL_RETRY_GROUP, LOCAL_RETRY_TOPIC),
        ]);
        return lags.every((lag) => Object.values(lag).every((records) => records === 0));
      },
      { timeoutMs: 30_000, intervalMs: 200, description: 'the consumer to catch up' },
    );
    const lastProgress = consumer.progress.at(-1);
    consumer.child.kill('SIGTERM');
    await exited(consumer.child);

    // Assess
    const perShard = await Promise.all([...healthyUrls, standbyUrl].map(appliedEvents));
    const customers = (await Promise.all([...healthyUrls, standbyUrl].map(customersOf))).flat();
    const expected = expectedState(traffic);
    const dlq = await log.endOffset(LOCAL_DLQ_TOPIC, 0);
    const parked = sum(
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => log.endOffset(LOCAL_RETRY_TOPIC, p))),
    );
    // The outage after the grace period, cut into equal windows: shards 0-2 grew in each of them.
    const windowMillis = (OUTAGE_MILLIS - PARKING_GRACE_MILLIS) / OUTAGE_WINDOWS;
    const growthPerWindow = Array.from({ length: OUTAGE_WINDOWS }, (_, w) => {
      const from = PARKING_GRACE_MILLIS + w * windowMillis;
      const inWindow = outageSamples.filter((s) => s.at >= from && s.at <= from + windowMillis);
      return (inWindow.at(-1)?.applied ?? 0) - (inWindow[0]?.applied ?? 0);
    });
    console.info(
      `shard failover drill: ${JSON.stringify({
        failoverMillis: Math.round(promotedAt - failedAt),
        resumedAfterMillis: Math.round(resumedAfterMillis),
        healthyShardsAppliedDuringOutage: outageSamples.map((s) => s.applied),
        growthPerWindow,
        parked,
        publishedAtFailure,
        onStandbyBeforeRepoint,
      })}`,
    );
    for (const growth of growthPerWindow) expect(growth).toBeGreaterThan(0);
    expect(parked).toBeGreaterThan(0);
    expect(resumedAfterMillis).toBeLessThan(RESUME_BUDGET_MILLIS);
    expect(consumer.logs.filter((l) => l.message === 'shard repointed')).toHaveLength(1);
    expect(lastProgress?.sentToDestination).toBe(0);
    expect(dlq).toBe(0);
    expect(perShard).toEqual(expectedPerShard);
    expect(sum(customers.map((c) => c.event_count))).toBe(EVENTS);
    expect(customers).toHaveLength(expected.size);
    for (const { customer_id, ...state } of customers) expect(state).toEqual(expected.get(customer_id));
  });
});
