import { z } from 'zod';
import { logRetentionDays } from './logRetention.js';

/**
 * Cron and rate expressions are not accepted: every schedule here is a rate in minutes, so validation can
 * compare the intervals with each other and with the alarm thresholds.
 */
const intervalMinutes = z
  .number()
  .int()
  .min(1, 'must be at least 1 (minute)')
  .max(1_440, 'must be at most 1440 (one day)');

/** The workflows of failure scenarios 8 and 9 (docs/workflows.md) and the analytics warehouse. */
export const workflowsSchema = z.strictObject({
  etl: z.strictObject({
    /** Minutes between ETL runs; each run opens a batch for the window since the previous one. */
    intervalMinutes,
    /**
     * Seconds a window's end lags behind the run (`ETL_SETTLE_SECONDS`), so events still in flight to the
     * shards when the run starts land in the next window rather than being missed.
     */
    settleSeconds: z.number().int().min(0, 'must be at least 0').max(3_600, 'must be at most 3600 (1 hour)'),
    /** Minutes between runs of the recovery job (staleness metrics, re-runs of failed batches). */
    recoveryIntervalMinutes: intervalMinutes,
    /** Re-runs of one failed batch before it is left to operators (`ETL_MAX_RETRIES`). */
    maxRetries: z.number().int().min(0, 'must be at least 0').max(10, 'must be at most 10'),
    /**
     * `WarehouseStalenessSeconds` above which operators are notified. A healthy warehouse is up to one
     * interval plus the settle time behind, so the threshold must exceed both.
     */
    stalenessAlarmSeconds: z.number().int().positive('must be positive'),
  }),
  reconciliation: z.strictObject({
    /** Minutes between scheduled reconciliations (it also runs whenever an alarm returns to OK). */
    intervalMinutes,
  }),
  /** The analytics Aurora PostgreSQL cluster the ETL loads; engine, backups and protection as the shards'. */
  warehouse: z.strictObject({
    minCapacityAcu: z.number().min(0, 'must be at least 0').max(256, 'must be at most 256'),
    maxCapacityAcu: z.number().min(1, 'must be at least 1').max(256, 'must be at most 256'),
    /** Replicas to fail over to; the Data API runs on the writer only, so readers add no capacity. */
    readers: z.number().int().min(1, 'the warehouse needs at least one replica to fail over to').max(15),
  }),
  /** Retention of the state machines' execution logs and the workflow functions' logs, in days. */
  logRetentionDays: logRetentionDays,
});

/** The workflows' intervals and alarms against each other, and the warehouse against the AZs. */
export function checkWorkflows(
  cfg: { workflows: z.infer<typeof workflowsSchema>; availabilityZoneCount: number },
  ctx: z.RefinementCtx,
): void {
  const { etl, warehouse } = cfg.workflows;
  const healthyLagSeconds = etl.intervalMinutes * 60 + etl.settleSeconds;
  if (etl.stalenessAlarmSeconds <= healthyLagSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflows', 'etl', 'stalenessAlarmSeconds'],
      message:
        `must exceed the ETL interval plus the settle time (${healthyLagSeconds} s): a healthy ` +
        'warehouse is that far behind just before each run',
    });
  }
  if (etl.recoveryIntervalMinutes * 60 >= etl.stalenessAlarmSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflows', 'etl', 'recoveryIntervalMinutes'],
      message: `must be shorter than stalenessAlarmSeconds (${etl.stalenessAlarmSeconds} s): the recovery job publishes the staleness`,
    });
  }
  const failedBatchWindowMinutes = (etl.maxRetries + 1) * etl.recoveryIntervalMinutes;
  if (failedBatchWindowMinutes > 1_440) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflows', 'etl', 'maxRetries'],
      message:
        `(maxRetries + 1) recovery intervals make ${failedBatchWindowMinutes} minutes: the failed-batch ` +
        'alarm watches that long, and CloudWatch evaluates at most one day',
    });
  }
  if (warehouse.maxCapacityAcu < warehouse.minCapacityAcu) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflows', 'warehouse', 'maxCapacityAcu'],
      message: `must be >= minCapacityAcu (${warehouse.minCapacityAcu})`,
    });
  }
  if (warehouse.readers + 1 > cfg.availabilityZoneCount) {
    ctx.addIssue({
      code: 'custom',
      path: ['workflows', 'warehouse', 'readers'],
      message: `writer plus ${warehouse.readers} readers cannot sit in distinct AZs with only ${cfg.availabilityZoneCount} AZs`,
    });
  }
}
