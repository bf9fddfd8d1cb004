import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { RECONCILIATION_METRIC_NAMES } from '../contracts/index.js';
import type { CustomerIndex } from '../index/CustomerIndex.js';
import type { EventLogReader, EventLogWriter } from '../replay/eventLog.js';
import { eventLogPolicy } from '../replay/eventLogPolicy.js';
import { replayRanges } from '../replay/replayRecords.js';
import { type ReconciliationSettings, type ReplaySettings, replaySettings } from '../resilience/defaults.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { InvalidReconciliationInputError } from './errors.js';
import {
  findShardGaps,
  type GapResult,
  planReconciliation,
  type ReconciliationPlan,
} from './findEventGaps.js';
import { type IndexCheckResult, reconcileShardIndex } from './reconcileShardIndex.js';
import { buildReport, type ReconciliationReport, type ReportInput } from './report.js';
import { indexPolicy, shardReadPolicy } from './stepPolicy.js';
import { SWEEP_START, type SweepState, sweepIndexStep } from './sweepIndex.js';

export interface ReconciliationDependencies {
  readonly router: ShardRouter;
  /** One SQL client per shard of the router's map. */
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly index: CustomerIndex;
  readonly reader: EventLogReader;
  readonly writer: EventLogWriter;
  /** The events topic (the truth) and the retry topic replays go to. */
  readonly topic: string;
  readonly retryTopic: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings: ReconciliationSettings;
  readonly replaySettings?: ReplaySettings;
}

const time = z.iso.datetime({ offset: true });
const windowSchema = z.object({ from: time, to: time });
const shardInput = z.object({ shardId: z.string().min(1) });
const gapsInput = z.union([
  z.object({
    plan: z.object({
      startedAt: time,
      // The execution input: a scheduled or alarm event, or `{ from?, to? }` to check a chosen window.
      request: z.object({ from: time.optional(), to: time.optional() }).loose().optional(),
    }),
  }),
  z.object({ shardId: z.string().min(1), window: windowSchema }),
]);
const offsetRange = z.object({
  partition: z.number().int().nonnegative(),
  fromOffset: z.number().int().nonnegative(),
  toOffset: z.number().int().nonnegative(),
});
const sweepInput = z.object({
  sweep: z
    .object({
      cursor: z.string(),
      done: z.boolean(),
      scanned: z.number().int().nonnegative(),
      extra: z.number().int().nonnegative(),
      removed: z.number().int().nonnegative(),
    })
    .optional(),
});
const replayInput = z.object({ ranges: z.array(offsetRange) });
const caught = z.object({ Error: z.string(), Cause: z.string().optional() }).optional();
// The whole workflow state: the plan, the Map's outputs, and what the sweep and the replay left.
const reportInput = z.object({
  plan: z.object({ window: windowSchema }),
  shards: z.array(
    z.object({
      shardId: z.string(),
      index: z.custom<IndexCheckResult>((v) => typeof v === 'object' && v !== null).optional(),
      indexError: caught,
      gaps: z.custom<GapResult>((v) => typeof v === 'object' && v !== null).optional(),
      gapsError: caught,
    }),
  ),
  sweep: sweepInput.shape.sweep,
  sweepError: caught,
  replay: z.object({ ranges: z.number(), replayed: z.number() }).optional(),
  replayError: caught,
});

/** @throws {InvalidReconciliationInputError} listing what is wrong with the step's input. */
function parse<T>(schema: z.ZodType<T>, input: unknown, step: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
  throw new InvalidReconciliationInputError(`${step}: invalid input: ${issues.join('; ')}`, {
    context: { issues },
  });
}

/** The step code of `step-functions/reconciliation.asl.json`, one function per Task (and Lambda export). */
export interface ReconciliationSteps {
  reconcileIndex(input: unknown): Promise<IndexCheckResult>;
  sweepIndex(input: unknown): Promise<SweepState>;
  findEventGaps(input: unknown): Promise<ReconciliationPlan | GapResult>;
  replayGaps(input: unknown): Promise<{ ranges: number; replayed: number }>;
  report(input: unknown): Promise<ReconciliationReport>;
}

/**
 * Binds the reconciliation's domain code to its dependencies. The Lambda handlers and the local runner
 * (`local/workflows/reconciliation.ts`) call these same functions, with the workflow's JSON as input.
 */
export function reconciliationSteps(deps: ReconciliationDependencies): ReconciliationSteps {
  const shardPolicy = shardReadPolicy(deps.settings);
  const redisPolicy = indexPolicy(deps.settings);
  const logPolicy = eventLogPolicy(deps.replaySettings ?? replaySettings());
  const requireShard = (shardId: string) => {
    if (deps.router.shard(shardId) === undefined || !deps.shards.has(shardId)) {
      throw new InvalidReconciliationInputError(`unknown shard ${shardId}`, { context: { shardId } });
    }
  };
  const common = {
    shards: deps.shards,
    router: deps.router,
    index: deps.index,
    shardPolicy,
    indexPolicy: redisPolicy,
  };
  return {
    async reconcileIndex(input) {
      const { shardId } = parse(shardInput, input, 'reconcileIndex');
      requireShard(shardId);
      const result = await reconcileShardIndex({ ...common, shardId, pageSize: deps.settings.pageSize });
      deps.logger.info('index reconciled', { ...result });
      return result;
    },

    async sweepIndex(input) {
      const { sweep } = parse(sweepInput, input, 'sweepIndex');
      const result = await sweepIndexStep(
        { ...common, scanCount: deps.settings.scanCount, keysPerStep: deps.settings.sweepKeysPerStep },
        sweep ?? SWEEP_START,
      );
      deps.logger.info('index sweep step', { ...result });
      return result;
    },

    async findEventGaps(input) {
      const parsed = parse(gapsInput, input, 'findEventGaps');
      if ('plan' in parsed) {
        // Called without a shard it plans the run: the shards and one window shared by all of them.
        return planReconciliation({
          shardIds: deps.router.shards.map((s) => s.id),
          startedAt: Date.parse(parsed.plan.startedAt),
          request: parsed.plan.request ?? {},
          lookbackSeconds: deps.settings.lookbackSeconds,
          settleSeconds: deps.settings.settleSeconds,
        });
      }
      requireShard(parsed.shardId);
      const result = await findShardGaps(
        {
          shardId: parsed.shardId,
          shards: deps.shards,
          router: deps.router,
          reader: deps.reader,
          topic: deps.topic,
          shardPolicy,
          logPolicy,
          maxRanges: deps.settings.maxRangesPerShard,
        },
        parsed.window,
      );
      deps.logger.info('event gaps searched', { ...result, ranges: result.ranges.length });
      return result;
    },

    async replayGaps(input) {
      const { ranges } = parse(replayInput, input, 'replayGaps');
      const summary = await replayRanges(
        {
          reader: deps.reader,
          writer: deps.writer,
          topic: deps.topic,
          targetTopic: deps.retryTopic,
          policy: logPolicy,
        },
        ranges,
      );
      deps.metrics.addMetric(RECONCILIATION_METRIC_NAMES.eventsReplayed, MetricUnit.Count, summary.replayed);
      deps.metrics.publishStoredMetrics();
      deps.logger.info('gaps replayed', { ranges: summary.ranges.length, replayed: summary.replayed });
      return { ranges: summary.ranges.length, replayed: summary.replayed };
    },

    async report(input) {
      const { plan, ...state } = parse(reportInput, input, 'report');
      const report = buildReport({ ...state, window: plan.window } as ReportInput);
      deps.metrics.addMetric(
        RECONCILIATION_METRIC_NAMES.indexMissing,
        MetricUnit.Count,
        report.totals.missing,
      );
      deps.metrics.addMetric(RECONCILIATION_METRIC_NAMES.indexStale, MetricUnit.Count, report.totals.stale);
      deps.metrics.addMetric(RECONCILIATION_METRIC_NAMES.indexExtra, MetricUnit.Count, report.totals.extra);
      deps.metrics.addMetric(
        RECONCILIATION_METRIC_NAMES.indexRepaired,
        MetricUnit.Count,
        report.totals.repaired,
      );
      deps.metrics.addMetric(
        RECONCILIATION_METRIC_NAMES.eventGaps,
        MetricUnit.Count,
        report.totals.gapEvents,
      );
      deps.metrics.publishStoredMetrics();
      if (report.complete) deps.logger.info('reconciliation report', { ...report });
      else deps.logger.error('reconciliation incomplete', { ...report });
      return report;
    },
  };
}
