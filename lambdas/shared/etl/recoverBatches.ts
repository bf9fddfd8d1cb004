import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ETL_METRIC_NAMES } from '../contracts/index.js';
import { describeError } from '../describeError.js';
import type { EtlSettings } from '../resilience/defaults.js';
import { etlSqlPolicy } from '../resilience/named.js';
import type { SqlClient } from '../sql/index.js';
import type { BatchStarter } from './BatchStarter.js';
import { EtlAuditLog } from './EtlAuditLog.js';

export interface RecoveryDependencies {
  readonly warehouse: SqlClient;
  readonly starter: BatchStarter;
  readonly settings: EtlSettings;
  readonly metrics?: Metrics | undefined;
  readonly logger?: Logger | undefined;
}

export interface RecoveryReport {
  /** Null before the first successful batch. */
  readonly watermark: string | null;
  /** What `WarehouseStalenessSeconds` got: the watermark's age, or the staleness owed before the first success. */
  readonly stalenessSeconds: number;
  readonly failedBatches: number;
  /** RUNNING batches whose run outlived `abandonAfterSeconds`, marked FAILED by this run (and re-run). */
  readonly abandoned: readonly string[];
  /** Re-runs started, by batch id, with the execution each started. */
  readonly started: readonly { readonly batchId: string; readonly run: number; readonly execution: string }[];
  /** FAILED batches left alone: they had `maxRetries` re-runs already. */
  readonly exhausted: readonly string[];
  /** Starts that failed (retried on the next schedule). */
  readonly startFailures: readonly { readonly batchId: string; readonly error: string }[];
}

/**
 * The scheduled recovery job: marks FAILED the batches left RUNNING by an execution that timed out or was
 * stopped, publishes `WarehouseStalenessSeconds` (age of the watermark; before the first success, of the
 * oldest window, 0 with no batch) and `FailedBatches`, then starts
 * one re-run per FAILED batch that has had fewer than `maxRetries` re-runs.
 * A start that fails is reported and left for the next schedule; the others still go ahead.
 *
 * @throws {SqlError} when the warehouse cannot be read.
 */
export async function recoverBatches(deps: RecoveryDependencies): Promise<RecoveryReport> {
  const audit = new EtlAuditLog(deps.warehouse, etlSqlPolicy(deps.settings));
  const abandoned = await audit.abandonStale(deps.settings.abandonAfterSeconds);
  if (abandoned.length > 0) {
    deps.logger?.warn('ETL batches abandoned by their executions marked FAILED', { batches: abandoned });
  }
  deps.metrics?.addMetric(ETL_METRIC_NAMES.abandonedBatches, MetricUnit.Count, abandoned.length);
  const health = await audit.health();
  // Published on every run, before the first success too: the alarm treats missing data as breaching.
  const stalenessSeconds = Math.max(0, health.stalenessSeconds);
  deps.metrics?.addMetric(ETL_METRIC_NAMES.warehouseStalenessSeconds, MetricUnit.Seconds, stalenessSeconds);
  deps.metrics?.addMetric(ETL_METRIC_NAMES.failedBatches, MetricUnit.Count, health.failed.length);

  const started: Array<RecoveryReport['started'][number]> = [];
  const exhausted: string[] = [];
  const startFailures: Array<RecoveryReport['startFailures'][number]> = [];
  for (const batch of health.failed) {
    // The first run is not a re-run.
    if (batch.runs - 1 >= deps.settings.maxRetries) {
      exhausted.push(batch.batchId);
      continue;
    }
    const rerun = { batchId: batch.batchId, run: batch.runs + 1 };
    try {
      started.push({ ...rerun, execution: await deps.starter.start(rerun) });
    } catch (error: unknown) {
      startFailures.push({ batchId: batch.batchId, error: describeError(error) });
      deps.logger?.error('Starting a re-run failed', { ...rerun, error });
    }
  }
  deps.metrics?.addMetric(ETL_METRIC_NAMES.batchRerunsStarted, MetricUnit.Count, started.length);
  if (exhausted.length > 0) {
    deps.logger?.error('FAILED batches out of automatic re-runs', { batches: exhausted });
  }
  deps.logger?.info('ETL recovery', { ...health, abandoned, started, exhausted, startFailures });
  return {
    watermark: health.watermark,
    stalenessSeconds,
    failedBatches: health.failed.length,
    abandoned,
    started,
    exhausted,
    startFailures,
  };
}
