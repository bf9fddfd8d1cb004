// Over 300 lines on purpose: the drill is one timed script (publish, fail over, repoint, drain, assessment)
// whose phases share the running services and the samples; shared helpers already live in ./support.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { parseShardMap, ShardRouter, writeShardMapFile } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import {
  LOCAL_DLQ_TOPIC,
  LOCAL_GROUP,
  LOCAL_RETRY_GROUP,
  LOCAL_RETRY_TOPIC,
  LOCAL_TOPIC,
} from '../consumer/LocalConsumer.js';
import { LocalLog } from '../log/index.js';
import { PostgresServer, sleep, waitFor } from '../services/index.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import { publishToLog } from '../traffic/publishToLog.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { type ConsumerProcess, exited, startConsumerProcess } from './support/consumerProcesses.js';
import { readEffects, tally, withInjectedLoss } from './support/effects.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

const PARTITIONS = 12;
const PREFIX = 'failover';
/** Published before the consumer starts; the rest is appended while it runs, through the failover. */
const PUBLISHED_UP_FRONT = 2_000;
const APPEND_CHUNK = 150;
const APPEND_EVERY_MILLIS = 100;
/** The scenario's bound: shard-3 applies again on its promoted standby within 5 s of the repoint. */
export const RESUME_BUDGET_MILLIS = 5_000;
/**
 * From here on into the outage shard-3's breaker is open and its records are parked: the other shards
 * must then grow in every one of the outage's remaining windows, never stalling on shard-3's records.
 */
const PARKING_GRACE_MILLIS = 3_000;
const OUTAGE_WINDOWS = 3;
const SAMPLE_EVERY_MILLIS = 250;

export interface ShardFailoverDetails {
  /** pg_stat_replication's sync states of shard-3's primary before the failure. */
  readonly replication: string[];
  readonly failoverMillis: number;
  readonly resumedAfterMillis: number;
  /** Growth of shards 0-2 in each window of the outage after the grace period. */
  readonly growthPerWindow: number[];
  readonly parked: number;
  readonly repointLogs: number;
  readonly sentToDestination: number | undefined;
  readonly appliedPerShard: number[];
  readonly expectedPerShard: number[];
  readonly effects: number;
  readonly customers: number;
  readonly expectedCustomers: number;
  readonly wrongCustomers: string[];
}

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

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** Ends a wait at once when the consumer process died: the drill is about it surviving the failover. */
function assertRunning(consumer: ConsumerProcess): void {
  const { exitCode, signalCode } = consumer.child;
  if (exitCode === null && signalCode === null) return;
  throw new Error(
    `the consumer process exited (${signalCode ?? exitCode}):\n${consumer.otherOutput.slice(-20).join('\n')}`,
  );
}

/**
 * §3 A database shard fails: shard-3's primary stops (immediate), its synchronous standby is promoted
 * after `seconds` and the shard map file repointed; the running consumer follows it without a restart.
 * Shards 0-2 keep being applied throughout (shard-3's records are parked), nothing is lost.
 */
export async function runShardFailover(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<ShardFailoverDetails>> {
  // Enough traffic to last the whole outage on a fast machine: each window must have events to apply.
  const events = options.events ?? 24_000;
  const outageMillis = (options.seconds ?? 8) * 1_000;
  const customers = Math.max(4, Math.round(events / 16));
  const upFront = Math.min(events, PUBLISHED_UP_FRONT);
  const started = performance.now();
  progress('starting PostgreSQL: shards 0-2, shard-3 with a synchronous standby');
  // Synchronous replication: a commit on shard-3's primary is acknowledged only once the standby has
  // the WAL, so promoting the standby never loses a transaction the consumer saw commit (and whose
  // offsets it then committed). Aurora's storage quorum gives the same guarantee in AWS. The standby
  // inherits the setting; once promoted it has no standby of its own and stops waiting for one.
  const [others, primary] = await Promise.all([
    PostgresServer.start({ name: 'drill-failover-shards-0-2' }),
    PostgresServer.start({ name: 'drill-failover-shard-3', settings: { synchronous_standby_names: '*' } }),
  ]);
  const children: ConsumerProcess[] = [];
  const publisher = { stopped: false, done: Promise.resolve() };
  let standby: PostgresServer | undefined;
  const dir = await mkdtemp(join(tmpdir(), 'cdp-drill-failover-'));
  try {
    standby = await primary.createStandby();
    const urls = await others.createShardDatabases(3, 'failover');
    await primary.createDatabases(['failover_3']);
    urls.push(primary.url('failover_3'));
    await Promise.all(urls.map((url) => withClient(url, (client) => migrateShard(client))));
    const shardMap = parseShardMap({ version: 1, shards: urls.map((url, i) => ({ id: `shard-${i}`, url })) });
    const mapFile = join(dir, 'shard-map.json');
    await writeShardMapFile(mapFile, shardMap);
    const replication = await primary.query<{ sync_state: string }>(
      'SELECT sync_state FROM pg_stat_replication',
    );

    const logDir = join(dir, 'log');
    const log = await LocalLog.open(logDir);
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({ events, customers, seed: 37, customerPrefix: PREFIX });
    const toPublish = withInjectedLoss(traffic, options.injectLoss);
    const router = new ShardRouter(shardMap);
    const expectedPerShard = [0, 1, 2, 3].map(
      (i) => traffic.filter((e) => router.shardFor(e.customerId).id === `shard-${i}`).length,
    );
    await publishToLog(log, LOCAL_TOPIC, toPublish.slice(0, upFront));
    const consumer = startConsumerProcess(
      { CDP_LOG_DIR: logDir, CDP_PARTITIONS: String(PARTITIONS), CDP_SHARD_MAP_FILE: mapFile },
      { keepLogs: true },
    );
    children.push(consumer);
    let published = upFront;
    let shard3Url = primary.url('failover_3');
    let shard3Down = false;
    const healthyUrls = shardMap.shards.slice(0, 3).map((s) => s.url ?? '');
    const healthyApplied = async () => sum(await Promise.all(healthyUrls.map(appliedEvents)));
    let lastShard3 = 0;
    const recorder = new Recorder(async () => {
      const lags = await Promise.all([
        log.lag(LOCAL_GROUP, LOCAL_TOPIC),
        log.lag(LOCAL_RETRY_GROUP, LOCAL_RETRY_TOPIC),
      ]);
      if (!shard3Down) lastShard3 = await appliedEvents(shard3Url).catch(() => lastShard3);
      const last = consumer.progress.at(-1);
      return {
        offered: published,
        applied: (await healthyApplied()) + lastShard3,
        errors: last?.functionErrors ?? 0,
        lag: sum(lags.map((lag) => sum(Object.values(lag)))),
        degraded: shard3Down ? 1 : 0,
      };
    });
    recorder.start();
    publisher.done = (async () => {
      while (published < toPublish.length && !publisher.stopped) {
        const next: Envelope[] = toPublish.slice(published, published + APPEND_CHUNK);
        await publishToLog(log, LOCAL_TOPIC, next);
        published += next.length;
        await sleep(APPEND_EVERY_MILLIS);
      }
    })();
    // Marked handled here; a publishing failure still fails the drill where the publisher is awaited.
    publisher.done.catch(() => undefined);
    progress('consuming while traffic arrives');
    const firstApplied = Math.min(500, Math.floor((expectedPerShard[3] ?? 0) / 4));
    await waitFor(
      async () => {
        assertRunning(consumer);
        return (await appliedEvents(primary.url('failover_3'))) >= firstApplied;
      },
      { timeoutMs: 30_000, description: `shard-3 to apply ${firstApplied} events on its primary` },
    );

    // Shard-3's primary fails; the standby is promoted and stops waiting for a standby of its own.
    progress(`shard-3's primary stopped; promoting its standby in ${outageMillis / 1_000} s`);
    shard3Down = true;
    recorder.faultStarted("shard-3's primary down");
    const failedAt = performance.now();
    await primary.stop('immediate');
    // Every partition also carries shard-3 customers: once shard-3's breaker is open its records are
    // parked on the retry topic, so shards 0-2 keep being applied throughout the outage.
    const outageSamples = [{ at: 0, applied: await healthyApplied() }];
    while (performance.now() - failedAt < outageMillis) {
      await sleep(SAMPLE_EVERY_MILLIS);
      outageSamples.push({ at: performance.now() - failedAt, applied: await healthyApplied() });
    }
    await standby.promote();
    await standby.query("ALTER SYSTEM SET synchronous_standby_names = ''");
    await standby.query('SELECT pg_reload_conf()');
    const promotedAt = performance.now();
    const standbyUrl = standby.url('failover_3');
    const onStandbyBeforeRepoint = await appliedEvents(standbyUrl);

    // Repoint shard-3 in the map file; the running consumer follows it.
    progress('promoted; repointing shard-3');
    await writeShardMapFile(mapFile, {
      ...shardMap,
      shards: shardMap.shards.map((s) => (s.id === 'shard-3' ? { ...s, url: standbyUrl } : s)),
    });
    const repointedAt = performance.now();
    recorder.faultEnded();
    shard3Url = standbyUrl;
    await waitFor(
      async () => {
        assertRunning(consumer);
        return (await appliedEvents(standbyUrl)) > onStandbyBeforeRepoint;
      },
      { timeoutMs: 30_000, intervalMs: 25, description: 'shard-3 to apply events on the promoted standby' },
    );
    const resumedAfterMillis = performance.now() - repointedAt;
    shard3Down = false;
    recorder.mark('shard-3 resumed');
    await publisher.done;
    progress('catching up');
    await waitFor(
      async () => {
        assertRunning(consumer);
        const lags = await Promise.all([
          log.lag(LOCAL_GROUP, LOCAL_TOPIC),
          log.lag(LOCAL_RETRY_GROUP, LOCAL_RETRY_TOPIC),
        ]);
        return lags.every((lag) => Object.values(lag).every((records) => records === 0));
      },
      { timeoutMs: 60_000, intervalMs: 200, description: 'the consumer to catch up' },
    );
    const lastProgress = consumer.progress.at(-1);
    consumer.child.kill('SIGTERM');
    await exited(consumer.child);
    const timeline = await recorder.stop();

    const allUrls = [...healthyUrls, standbyUrl];
    const appliedPerShard = await Promise.all(allUrls.map(appliedEvents));
    const effects = await readEffects(allUrls, PREFIX);
    const counted = tally(traffic, effects);
    const dlq = await log.endOffset(LOCAL_DLQ_TOPIC, 0);
    const parked = sum(
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => log.endOffset(LOCAL_RETRY_TOPIC, p))),
    );
    // The outage after the grace period, cut into equal windows: shards 0-2 grew in each of them.
    const windowMillis = (outageMillis - PARKING_GRACE_MILLIS) / OUTAGE_WINDOWS;
    const growthPerWindow = Array.from({ length: OUTAGE_WINDOWS }, (_, w) => {
      const from = PARKING_GRACE_MILLIS + w * windowMillis;
      const inWindow = outageSamples.filter((s) => s.at >= from && s.at <= from + windowMillis);
      return (inWindow.at(-1)?.applied ?? 0) - (inWindow[0]?.applied ?? 0);
    });
    const stalled = growthPerWindow.filter((g) => g <= 0).length;
    return score({
      scenario: 'shard-failover',
      section: 3,
      title: 'A database shard fails',
      backend:
        'local log (12 partitions), consumer process, PostgreSQL (4 shards, shard-3 with a synchronous standby)',
      counts: {
        offered: events,
        accepted: events,
        applied: counted.applied,
        lost: counted.lost,
        duplicateEffects: counted.duplicateEffects,
        deadLettered: dlq,
      },
      alarm: {
        name: 'shard-3 records parked (breaker open)',
        series: 'degraded',
        comparison: '>=',
        threshold: 1,
        datapoints: 1,
      },
      bound: {
        description: `shard-3 applies on its promoted standby within ${RESUME_BUDGET_MILLIS / 1_000} s of the repoint`,
        recoverWithinSeconds: RESUME_BUDGET_MILLIS / 1_000,
      },
      affectedPath: 'consumer',
      timeline,
      faults: recorder.faults,
      recoveredAt: recorder.markOf('shard-3 resumed'),
      wallSeconds: (performance.now() - started) / 1_000,
      problems: [
        ...counted.problems,
        ...(stalled > 0 ? [`shards 0-2 stalled in ${stalled} window(s) of the outage`] : []),
      ],
      details: {
        replication: replication.rows.map((r) => r.sync_state),
        failoverMillis: Math.round(promotedAt - failedAt),
        resumedAfterMillis: Math.round(resumedAfterMillis),
        growthPerWindow,
        parked,
        repointLogs: consumer.logs.filter((l) => l.message === 'shard repointed').length,
        sentToDestination: lastProgress?.sentToDestination,
        appliedPerShard,
        expectedPerShard,
        effects: effects.effects,
        customers: effects.customers.size,
        expectedCustomers: new Set(traffic.map((e) => e.customerId)).size,
        wrongCustomers: counted.wrongCustomers,
      },
    });
  } finally {
    publisher.stopped = true;
    await publisher.done.catch(() => undefined);
    for (const { child } of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([others.destroy(), primary.destroy(), standby?.destroy()]);
    await rm(dir, { recursive: true, force: true });
  }
}
