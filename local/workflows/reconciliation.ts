/**
 * Runs the reconciliation workflow (`step-functions/reconciliation.asl.json`) on this machine: the real
 * step code (`lambdas/reconciliation/dependencies.ts`) on the local shards, the local Redis and the local
 * log, each Task state bound by name.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { wireReconciliation } from '../../lambdas/reconciliation/dependencies.js';
import type { ReconciliationReport } from '../../lambdas/shared/reconciliation/report.js';
import type { ReconciliationSettings, ReplaySettings } from '../../lambdas/shared/resilience/defaults.js';
import type { ShardMap } from '../../lambdas/shared/sharding/index.js';
import { LOCAL_RETRY_TOPIC, LOCAL_TOPIC } from '../consumer/LocalConsumer.js';
import { LocalLog } from '../log/index.js';
import { LocalLogStream, type LocalStream } from '../stream/index.js';
import { type JSONValue, runWorkflow, type WorkflowResult } from './runWorkflow.js';

export const RECONCILIATION_DEFINITION = 'reconciliation.asl.json';

export interface LocalReconciliationOptions {
  /** Where the topics live: the local log (as is, or as a stream) or a Kafka cluster. */
  readonly stream: LocalStream | LocalLog;
  readonly shardMap: ShardMap;
  readonly redisUrl: string;
  /** The execution input: `{}` as the schedule sends, or `{ from, to }` (ISO-8601) to check a chosen window. */
  readonly input?: { readonly from?: string; readonly to?: string };
  readonly settings?: Partial<ReconciliationSettings>;
  readonly replaySettings?: Partial<ReplaySettings>;
  /** Waits of the definition's Retry blocks in ms by state name (tests make them short). */
  readonly retryIntervals?: Readonly<Record<string, number | number[]>>;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
}

export interface LocalReconciliationRun {
  readonly result: WorkflowResult;
  /** The Report step's output; present whenever the run reached it (also when it then failed). */
  readonly report: ReconciliationReport | undefined;
  /** Task invocations by state name, retries included. */
  readonly invocations: Readonly<Record<string, number>>;
}

/**
 * One execution of the reconciliation workflow against the local platform.
 * @throws when the definition has a Task state without local step code, or the wiring fails.
 */
export async function runReconciliationLocally(
  options: LocalReconciliationOptions,
): Promise<LocalReconciliationRun> {
  const logLevel = options.logLevel ?? (process.env.CDP_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN';
  const stream = options.stream instanceof LocalLog ? new LocalLogStream(options.stream) : options.stream;
  const partitions = await stream.partitionsOf(LOCAL_TOPIC);
  await stream.createTopic(LOCAL_RETRY_TOPIC, partitions);
  const wired = await wireReconciliation({
    shardMap: options.shardMap,
    redis: { url: options.redisUrl },
    eventLog: stream.eventLog(),
    topic: LOCAL_TOPIC,
    retryTopic: LOCAL_RETRY_TOPIC,
    logger: new Logger({ serviceName: 'reconciliation', logLevel }),
    metrics: new Metrics({ namespace: 'CustomerDataPlatform', serviceName: 'reconciliation' }),
    ...(options.settings ? { settings: options.settings } : {}),
    ...(options.replaySettings ? { replaySettings: options.replaySettings } : {}),
    maxConnectionsPerShard: 4,
  });
  const invocations: Record<string, number> = {};
  let report: ReconciliationReport | undefined;
  const bound =
    (state: string, step: (input: unknown) => Promise<unknown>) =>
    async (input: JSONValue): Promise<JSONValue> => {
      invocations[state] = (invocations[state] ?? 0) + 1;
      return (await step(input)) as JSONValue;
    };
  const { steps } = wired;
  try {
    const result = await runWorkflow(
      {
        definition: RECONCILIATION_DEFINITION,
        tasks: {
          Plan: bound('Plan', steps.findEventGaps),
          ReconcileIndex: bound('ReconcileIndex', steps.reconcileIndex),
          FindEventGaps: bound('FindEventGaps', steps.findEventGaps),
          SweepIndex: bound('SweepIndex', steps.sweepIndex),
          ReplayGaps: bound('ReplayGaps', steps.replayGaps),
          Report: bound('Report', async (input) => {
            report = await steps.report(input);
            return report;
          }),
        },
        ...(options.retryIntervals ? { retryIntervals: options.retryIntervals } : {}),
      },
      (options.input ?? {}) as JSONValue,
    );
    return { result, report, invocations };
  } finally {
    await wired.close();
  }
}
