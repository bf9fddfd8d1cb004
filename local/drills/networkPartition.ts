import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import type { ReconciliationReport } from '../../lambdas/shared/reconciliation/report.js';
import { parseShardMap } from '../../lambdas/shared/sharding/index.js';
import { LOCAL_DLQ_TOPIC, LOCAL_TOPIC, LocalConsumer } from '../consumer/LocalConsumer.js';
import { FaultProxy } from '../faults/index.js';
import { LocalLog } from '../log/index.js';
import { LocalDataServices } from '../platform/LocalDataServices.js';
import { sleep, waitFor } from '../services/index.js';
import { generateTraffic } from '../traffic/generateTraffic.js';
import { publishToLog } from '../traffic/publishToLog.js';
import { runReconciliationLocally } from '../workflows/reconciliation.js';
import type { WorkflowResult } from '../workflows/runWorkflow.js';
import { Recorder } from './Recorder.js';
import { score } from './scorecard.js';
import { readEffects, tally, withInjectedLoss } from './support/effects.js';
import { indexMismatches } from './support/shardState.js';
import type { DrillOptions, DrillResult, Progress } from './types.js';

const PARTITIONS = 12;
const PREFIX = 'partition';
const APPEND_CHUNK = 200;
const APPEND_EVERY_MILLIS = 100;
const RECOVER_WITHIN_SECONDS = 120;

export interface NetworkPartitionDetails {
  readonly cutMillis: number;
  readonly appliedAtCut: number;
  readonly appliedDuringCut: number;
  /** Events whose application failed during the cut and were delivered again. */
  readonly eventsFailedAndRedelivered: number;
  readonly invocationRetries: number;
  readonly appliedEvents: number;
  readonly effects: number;
  readonly customers: number;
  readonly expectedCustomers: number;
  readonly wrongCustomers: string[];
  readonly indexMismatches: string[];
  readonly reconciliation: {
    readonly status: WorkflowResult['status'];
    readonly complete: boolean | undefined;
    readonly totals: ReconciliationReport['totals'] | undefined;
    readonly eventsChecked: number;
  };
}

/**
 * §8 A network partition between services: every database connection of the consumer is reset and new
 * ones are refused for `seconds` mid-load. It must retry with backoff through the cut, lose nothing, and
 * the reconciliation afterwards must find no inconsistency.
 */
export async function runNetworkPartition(
  options: DrillOptions,
  progress: Progress = () => undefined,
): Promise<DrillResult<NetworkPartitionDetails>> {
  const events = options.events ?? 6_000;
  const cutMillis = (options.seconds ?? 5) * 1_000;
  const customers = Math.max(1, Math.round(events / 8));
  const upFront = Math.min(events, Math.round(events / 6));
  const cutAfterApplied = Math.round(events / 4);
  progress('starting PostgreSQL (4 shards), Redis and a fault proxy');
  const services = await LocalDataServices.start({ shards: 4, name: 'drill-partition' });
  const first = new URL(services.shardMap.shards[0]?.url ?? '');
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(first.port) });
  const dir = await mkdtemp(join(tmpdir(), 'cdp-drill-partition-'));
  const publisher = { stopped: false, done: Promise.resolve() };
  const started = performance.now();
  try {
    const partitionedMap = parseShardMap({
      ...services.shardMap,
      shards: services.shardMap.shards.map((s) => ({ ...s, url: proxy.via(s.url ?? '') })),
    });
    const log = await LocalLog.open(join(dir, 'log'));
    await log.createTopic(LOCAL_TOPIC, PARTITIONS);
    const traffic = generateTraffic({ events, customers, seed: 88, customerPrefix: PREFIX });
    const toPublish = withInjectedLoss(traffic, options.injectLoss);
    await publishToLog(log, LOCAL_TOPIC, toPublish.slice(0, upFront));
    const local = await LocalConsumer.create({
      stream: log,
      shardMap: partitionedMap,
      redisUrl: services.redis?.url,
    });
    let published = upFront;
    const recorder = new Recorder(() => {
      const main = local.emulator.stats();
      const retry = local.retryEmulator.stats();
      const totals = local.consumer.totals;
      return {
        offered: published,
        applied: totals.applied + totals.stale,
        errors: main.functionErrors + main.partialFailures + retry.functionErrors + retry.partialFailures,
        lag: Math.max(0, published - main.recordsCommitted),
        degraded: 0,
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
    publisher.done.catch(() => undefined);
    await local.start();
    try {
      progress('consuming while traffic arrives');
      await waitFor(() => local.consumer.totals.applied >= cutAfterApplied, {
        timeoutMs: 60_000,
        intervalMs: 20,
        description: `${cutAfterApplied} events applied before the cut`,
      });

      // Every database connection of the consumer is reset and new ones are refused.
      const before = { ...local.consumer.totals };
      const appliedAtCut = before.applied;
      const retriesBefore = local.emulator.stats().retries + local.retryEmulator.stats().retries;
      progress(`database connections cut for ${cutMillis / 1_000} s`);
      recorder.faultStarted('database connections cut');
      const cutAt = performance.now();
      await proxy.cut(cutMillis);
      const healedAt = performance.now();
      recorder.faultEnded();
      const appliedDuringCut = local.consumer.totals.applied - appliedAtCut;
      progress('healed; catching up');
      await publisher.done;
      await local.drain({ timeoutMillis: RECOVER_WITHIN_SECONDS * 1_000 });
      const recoveredAt = recorder.mark('caught up');
      const stats = [local.emulator.stats(), local.retryEmulator.stats()];
      const totals = { ...local.consumer.totals };
      await local.close();
      const timeline = await recorder.stop();
      progress('reconciling');
      const reconciliation = await runReconciliationLocally({
        stream: log,
        shardMap: services.shardMap,
        redisUrl: services.redis?.url ?? '',
        settings: { settleSeconds: 0 },
      });

      const effects = await readEffects(
        services.shardMap.shards.map((s) => s.url ?? ''),
        PREFIX,
      );
      const counted = tally(traffic, effects);
      const mismatches = await indexMismatches(services.redis?.url ?? '', effects.customers);
      const report = reconciliation.report;
      const reconciled =
        reconciliation.result.status === 'SUCCEEDED' &&
        report?.complete === true &&
        Object.values(report.totals).every((n) => n === 0);
      return score({
        scenario: 'network-partition',
        section: 8,
        title: 'A network partition between services',
        backend:
          'local log (12 partitions), in-process consumer, PostgreSQL (4 shards) behind a fault proxy, Redis',
        counts: {
          offered: events,
          accepted: events,
          applied: counted.applied,
          lost: counted.lost,
          duplicateEffects: counted.duplicateEffects,
          deadLettered: await log.endOffset(LOCAL_DLQ_TOPIC, 0),
        },
        alarm: {
          name: 'consumer ErrorsAlarm (failed invocations)',
          series: 'errorsPerSecond',
          comparison: '>',
          threshold: 0,
          datapoints: 1,
        },
        bound: {
          description: `caught up within ${RECOVER_WITHIN_SECONDS} s of the heal; reconciliation finds nothing`,
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
          ...(reconciled
            ? []
            : [`the reconciliation found inconsistencies: ${JSON.stringify(report?.totals)}`]),
        ],
        details: {
          cutMillis: Math.round(healedAt - cutAt),
          appliedAtCut,
          appliedDuringCut,
          eventsFailedAndRedelivered: totals.failed - before.failed,
          invocationRetries: stats.reduce((n, s) => n + s.retries, 0) - retriesBefore,
          appliedEvents: effects.appliedIds.size,
          effects: effects.effects,
          customers: effects.customers.size,
          expectedCustomers: customers,
          wrongCustomers: counted.wrongCustomers,
          indexMismatches: mismatches,
          reconciliation: {
            status: reconciliation.result.status,
            complete: report?.complete,
            totals: report?.totals,
            eventsChecked: report?.shards.reduce((n, s) => n + (s.eventsChecked ?? 0), 0) ?? 0,
          },
        },
      });
    } finally {
      await local.close().catch(() => undefined);
    }
  } finally {
    publisher.stopped = true;
    await publisher.done.catch(() => undefined);
    await proxy.close();
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
