import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_DLQ_TOPIC, LOCAL_GROUP, LOCAL_TOPIC } from '../consumer/LocalConsumer.js';
import { LocalLog } from '../log/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { waitFor } from '../services/index.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import { publishToLog } from '../traffic/publishToLog.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { type ConsumerProcess, exited, startConsumerProcess } from './support/consumerProcesses.js';
import { readEffects, tally, withInjectedLoss } from './support/effects.js';
import { indexMismatches } from './support/shardState.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

const PARTITIONS = 12;
const PREFIX = 'crash';
/** The consumer is killed once this share of the events is committed. */
const CRASH_AT_SHARE = 0.25;
/** The restarted consumer must catch up within this long (the drill's stated bound). */
const RECOVER_WITHIN_SECONDS = 120;

export interface ConsumerCrashDetails {
  readonly customers: number;
  /** Records still to consume when the consumer was killed: the crash happened mid-load. */
  readonly remainingAtCrash: number;
  readonly effects: number;
  readonly wrongCustomers: string[];
  readonly indexMismatches: string[];
}

const sumOf = (lag: Record<number, number>): number => Object.values(lag).reduce((a, b) => a + b, 0);

/**
 * §2 A consumer service crashes: the consumer process is SIGKILLed mid-batch, a new one resumes from the
 * committed offsets. Every event must have exactly one effect and the index must agree.
 */
export async function runConsumerCrash(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<ConsumerCrashDetails>> {
  const events = options.events ?? 6_000;
  const customers = Math.max(1, Math.round(events / 8));
  progress('starting PostgreSQL (4 shards) and Redis');
  const services = await LocalDataServices.start({ shards: 4, name: 'drill-crash' });
  const dir = await mkdtemp(join(tmpdir(), 'cdp-drill-crash-'));
  const children: ConsumerProcess[] = [];
  try {
    const logDir = join(dir, 'log');
    const log = await LocalLog.open(logDir);
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({ events, customers, seed: 23, customerPrefix: PREFIX });
    const started = performance.now();
    let lag = 0;
    let stalled = 0;
    let lastApplied = 0;
    const recorder = new Recorder(async () => {
      lag = sumOf(await log.lag(LOCAL_GROUP, LOCAL_TOPIC));
      const applied = events - lag;
      stalled = lag > 0 && applied === lastApplied ? 1 : 0;
      lastApplied = applied;
      return { offered: events, applied, errors: 0, lag, degraded: stalled };
    });
    progress(`publishing ${events} events`);
    await publishToLog(log, LOCAL_TOPIC, withInjectedLoss(traffic, options.injectLoss));
    recorder.start();
    const env = {
      CDP_LOG_DIR: logDir,
      CDP_PARTITIONS: String(PARTITIONS),
      CDP_SHARD_MAP: JSON.stringify(services.shardMap),
      CDP_REDIS_URL: services.redis?.url ?? '',
    };

    // Crash while batches are in flight.
    const first = startConsumerProcess(env);
    children.push(first);
    progress('consumer running; killing it mid-load');
    await waitFor(() => (first.progress.at(-1)?.recordsCommitted ?? 0) >= events * CRASH_AT_SHARE, {
      timeoutMs: 60_000,
      description: `the first consumer to commit ${Math.round(events * CRASH_AT_SHARE)} records`,
    });
    first.child.kill('SIGKILL');
    recorder.faultStarted('consumer killed (SIGKILL)');
    await exited(first.child);
    const remainingAtCrash = sumOf(await log.lag(LOCAL_GROUP, LOCAL_TOPIC));
    // Down for a moment, as a restart takes: the lag stands still meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    // A new execution environment resumes from the committed offsets.
    recorder.faultEnded();
    progress(`restarted with ${remainingAtCrash} records left`);
    const second = startConsumerProcess(env);
    children.push(second);
    await waitFor(async () => sumOf(await log.lag(LOCAL_GROUP, LOCAL_TOPIC)) === 0, {
      timeoutMs: RECOVER_WITHIN_SECONDS * 1_000,
      intervalMs: 200,
      description: 'the restarted consumer to catch up',
    });
    const recoveredAt = recorder.mark('caught up');
    second.child.kill('SIGTERM');
    await exited(second.child);
    const timeline = await recorder.stop();

    progress('checking every event and the index');
    const effects = await readEffects(
      services.shardMap.shards.map((s) => s.url ?? ''),
      PREFIX,
    );
    const counted = tally(traffic, effects);
    const expected = new Map([...effects.customers].filter(([id]) => !counted.wrongCustomers.includes(id)));
    const mismatches = await indexMismatches(services.redis?.url ?? '', expected);
    return score({
      scenario: 'consumer-crash',
      section: 2,
      title: 'A consumer service crashes',
      backend: 'local log (12 partitions), consumer process, PostgreSQL (4 shards), Redis',
      counts: {
        offered: events,
        accepted: events,
        applied: counted.applied,
        lost: counted.lost,
        duplicateEffects: counted.duplicateEffects,
        deadLettered: await log.endOffset(LOCAL_DLQ_TOPIC, 0).catch(() => 0),
      },
      alarm: {
        name: 'consumer stalled: lag waiting and not decreasing',
        series: 'degraded',
        comparison: '>=',
        threshold: 1,
        datapoints: 2,
      },
      bound: {
        description: `the restarted consumer catches up within ${RECOVER_WITHIN_SECONDS} s`,
        recoverWithinSeconds: RECOVER_WITHIN_SECONDS,
      },
      affectedPath: 'consumer',
      timeline,
      faults: recorder.faults,
      recoveredAt,
      wallSeconds: (performance.now() - started) / 1_000,
      problems: [
        ...counted.problems,
        ...(mismatches.length > 0 ? [`${mismatches.length} index entries disagree with the shards`] : []),
      ],
      details: {
        customers: effects.customers.size,
        remainingAtCrash,
        effects: effects.effects,
        wrongCustomers: counted.wrongCustomers,
        indexMismatches: mismatches,
      },
    });
  } finally {
    for (const { child } of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
