import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { ETL_METRIC_NAMES } from '../contracts/index.js';
import { describeError } from '../describeError.js';
import type { EtlSettings } from '../resilience/defaults.js';
import { etlSqlPolicy } from '../resilience/named.js';
import type { SqlClient } from '../sql/index.js';
import { EtlAuditLog } from './EtlAuditLog.js';
import { asStepError, EtlInputError } from './errors.js';
import { extractLoad, type LoadCounts, type ShardWindow } from './extractLoad.js';
import { addChecksums } from './reportingRow.js';
import { validateShard } from './validateShard.js';

/** Output of `openBatch`: the window, and the shards the Map state fans out over. */
export interface OpenedBatch {
  readonly batchId: string;
  readonly run: number;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly shardIds: readonly string[];
}

/** One Map iteration's result: `validateShard`'s output, or the `ShardFailed` state's. */
export type ShardOutcome =
  | {
      readonly shardId: string;
      readonly status: 'SUCCEEDED';
      readonly rowsExtracted: number;
      readonly rowsWritten: number;
      readonly sourceRows: number;
      readonly warehouseRows: number;
      readonly checksum: string;
    }
  | { readonly shardId: string; readonly status: 'FAILED'; readonly error: string; readonly cause: string };

/** Output of `closeBatch`; the state machine fails the execution unless `status` is SUCCEEDED. */
export interface ClosedBatch {
  readonly batchId: string;
  readonly run: number;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly rowsExtracted: number;
  readonly rowsWritten: number;
  readonly sourceRows: number;
  readonly checksum: string | null;
  readonly error: string | null;
}

export interface EtlStepDependencies {
  /** A client per shard id, owned by the caller. */
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly warehouse: SqlClient;
  readonly settings: EtlSettings;
  readonly logger?: Logger | undefined;
  readonly metrics?: Metrics | undefined;
  readonly newBatchId?: () => string;
}

export interface EtlSteps {
  openBatch(input: unknown): Promise<OpenedBatch>;
  extractLoad(input: unknown): Promise<LoadCounts & { readonly shardId: string }>;
  validateShard(input: unknown): Promise<ShardOutcome>;
  closeBatch(input: unknown): Promise<ClosedBatch>;
}

const windowSchema = z.object({
  batchId: z.string().min(1),
  run: z.number().int().positive(),
  shardId: z.string().min(1),
  windowStart: z.iso.datetime({ offset: true, precision: 6 }),
  windowEnd: z.iso.datetime({ offset: true, precision: 6 }),
});
const openSchema = z.object({ batchId: z.string().min(1).optional() });
const validateSchema = windowSchema.extend({
  load: z.object({ rowsExtracted: z.number().int().min(0), rowsWritten: z.number().int().min(0) }),
});
const outcomeSchema = z.discriminatedUnion('status', [
  z.object({
    shardId: z.string(),
    status: z.literal('SUCCEEDED'),
    rowsExtracted: z.number(),
    rowsWritten: z.number(),
    sourceRows: z.number(),
    warehouseRows: z.number(),
    checksum: z.string(),
  }),
  z.object({ shardId: z.string(), status: z.literal('FAILED'), error: z.string(), cause: z.string() }),
]);
const closeSchema = z.object({
  batchId: z.string().min(1),
  run: z.number().int().positive(),
  windowStart: z.string(),
  windowEnd: z.string(),
  results: z.array(outcomeSchema),
});

/** @throws {EtlInputError} when the input does not match the schema. */
function parse<T>(schema: z.ZodType<T>, input: unknown, step: string): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new EtlInputError(
      `${step}: invalid input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/**
 * The four step functions of `step-functions/etl.asl.json`, over the given clients. Each shard step
 * records its attempt (success or failure, with the error) in the audit log, and raises retriable SQL
 * failures as `EtlTransientError`, the name the state machine retries.
 */
export function createEtlSteps(deps: EtlStepDependencies): EtlSteps {
  const policy = etlSqlPolicy(deps.settings);
  const audit = new EtlAuditLog(deps.warehouse, policy);
  const shardIds = [...deps.shards.keys()];
  const newBatchId = deps.newBatchId ?? (() => `etl-${randomUUID()}`);

  const sourceOf = (window: ShardWindow): SqlClient => {
    const client = deps.shards.get(window.shardId);
    if (client === undefined) throw new EtlInputError(`unknown shard ${window.shardId}`);
    return client;
  };

  /** Runs a shard step and records its attempt; a failed audit write is logged, never hides the outcome. */
  async function attempt<T>(
    window: ShardWindow,
    step: 'extract-load' | 'validate',
    work: () => Promise<T>,
    counts: (result: T) => Partial<Parameters<EtlAuditLog['recordAttempt']>[0]>,
  ): Promise<T> {
    const startedAt = new Date();
    const base = { batchId: window.batchId, run: window.run, shardId: window.shardId, step, startedAt };
    let result: T;
    try {
      result = await work();
    } catch (error: unknown) {
      const failure = asStepError(error, `${step} ${window.shardId}`);
      await audit
        .recordAttempt({ ...base, status: 'FAILED', error: describeError(failure) })
        .catch((auditError: unknown) =>
          deps.logger?.error('Recording a failed attempt failed', {
            ...base,
            error: auditError,
          }),
        );
      deps.logger?.warn('ETL step failed', { ...base, error: failure });
      throw failure;
    }
    try {
      await audit.recordAttempt({ ...base, status: 'SUCCEEDED', ...counts(result) });
    } catch (error: unknown) {
      throw asStepError(error, `recording ${step} ${window.shardId}`);
    }
    return result;
  }

  return {
    async openBatch(input) {
      const { batchId } = parse(openSchema, input, 'openBatch');
      try {
        const window =
          batchId === undefined
            ? await audit.openNew(newBatchId(), deps.settings.settleSeconds)
            : await audit.openRerun(batchId);
        deps.logger?.info('ETL batch opened', { ...window });
        return { ...window, shardIds };
      } catch (error: unknown) {
        throw asStepError(error, 'openBatch');
      }
    },

    async extractLoad(input) {
      const window = parse(windowSchema, input, 'extractLoad');
      const source = sourceOf(window);
      const counts = await attempt(
        window,
        'extract-load',
        () => extractLoad(source, deps.warehouse, window, { policy, pageSize: deps.settings.pageSize }),
        (c) => ({ rowsExtracted: c.rowsExtracted, rowsWritten: c.rowsWritten }),
      );
      return { shardId: window.shardId, ...counts };
    },

    async validateShard(input) {
      const { load, ...window } = parse(validateSchema, input, 'validateShard');
      const source = sourceOf(window);
      const checked = await attempt(
        window,
        'validate',
        () => validateShard(source, deps.warehouse, window, { policy, pageSize: deps.settings.pageSize }),
        (v) => ({ sourceRows: v.sourceRows, warehouseRows: v.warehouseRows, checksum: v.checksum }),
      );
      return {
        shardId: window.shardId,
        status: 'SUCCEEDED',
        rowsExtracted: load.rowsExtracted,
        rowsWritten: load.rowsWritten,
        sourceRows: checked.sourceRows,
        warehouseRows: checked.warehouseRows,
        checksum: checked.checksum,
      };
    },

    async closeBatch(input) {
      const { results, windowStart, windowEnd, ...run } = parse(closeSchema, input, 'closeBatch');
      const succeeded = results.flatMap((r) => (r.status === 'SUCCEEDED' ? [r] : []));
      const failed = results.flatMap((r) => (r.status === 'FAILED' ? [r] : []));
      const status = failed.length === 0 ? 'SUCCEEDED' : 'FAILED';
      const sum = (pick: (r: (typeof succeeded)[number]) => number) =>
        succeeded.reduce((n, r) => n + pick(r), 0);
      const closed: ClosedBatch = {
        ...run,
        status,
        windowStart,
        windowEnd,
        rowsExtracted: sum((r) => r.rowsExtracted),
        rowsWritten: sum((r) => r.rowsWritten),
        sourceRows: sum((r) => r.sourceRows),
        checksum: status === 'SUCCEEDED' ? addChecksums(succeeded.map((r) => r.checksum)) : null,
        error:
          status === 'SUCCEEDED'
            ? null
            : failed.map((f) => `${f.shardId}: ${f.error}: ${f.cause}`).join('\n'),
      };
      try {
        await audit.close(closed);
      } catch (error: unknown) {
        throw asStepError(error, 'closeBatch');
      }
      deps.metrics?.addMetric(
        status === 'SUCCEEDED' ? ETL_METRIC_NAMES.batchesSucceeded : ETL_METRIC_NAMES.batchesFailed,
        MetricUnit.Count,
        1,
      );
      deps.metrics?.addMetric(ETL_METRIC_NAMES.rowsExtracted, MetricUnit.Count, closed.rowsExtracted);
      deps.metrics?.addMetric(ETL_METRIC_NAMES.rowsLoaded, MetricUnit.Count, closed.rowsWritten);
      (status === 'SUCCEEDED' ? deps.logger?.info : deps.logger?.error)?.call(
        deps.logger,
        'ETL batch closed',
        {
          ...closed,
        },
      );
      return closed;
    },
  };
}
