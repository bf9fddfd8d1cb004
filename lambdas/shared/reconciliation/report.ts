import type { GapResult, ReconciliationWindow } from './findEventGaps.js';
import type { IndexCheckResult } from './reconcileShardIndex.js';
import type { SweepState } from './sweepIndex.js';

/** A step failure as Step Functions records it in a Catch (`ResultPath`). */
export interface CaughtError {
  readonly Error: string;
  readonly Cause?: string | undefined;
}

/** One Map iteration's output: each step's result, or the error its Catch recorded. */
export interface ShardOutcome {
  readonly shardId: string;
  readonly index?: IndexCheckResult | undefined;
  readonly indexError?: CaughtError | undefined;
  readonly gaps?: GapResult | undefined;
  readonly gapsError?: CaughtError | undefined;
}

/** The workflow's state when it reaches the report. */
export interface ReportInput {
  readonly window: ReconciliationWindow;
  readonly shards: readonly ShardOutcome[];
  readonly sweep?: SweepState | undefined;
  readonly sweepError?: CaughtError | undefined;
  readonly replay?: { readonly ranges: number; readonly replayed: number } | undefined;
  readonly replayError?: CaughtError | undefined;
}

export interface ShardReport {
  readonly shardId: string;
  readonly rows: number | null;
  readonly missing: number | null;
  readonly stale: number | null;
  readonly conflicts: number | null;
  readonly repaired: number | null;
  readonly eventsChecked: number | null;
  readonly gapEvents: number | null;
  readonly gapRanges: number | null;
}

export interface ReconciliationReport {
  readonly window: ReconciliationWindow;
  /** True when every step of every shard ran; false means some counts are unknown (see `failures`). */
  readonly complete: boolean;
  readonly shards: readonly ShardReport[];
  readonly totals: {
    readonly missing: number;
    readonly stale: number;
    readonly extra: number;
    readonly conflicts: number;
    /** Index entries rewritten from a row plus extra keys removed. */
    readonly repaired: number;
    readonly gapEvents: number;
    readonly replayed: number;
    /** Records of the window the consumer dead-letters by design. */
    readonly poison: number;
  };
  readonly sweep: { readonly scanned: number; readonly extra: number; readonly removed: number } | null;
  readonly failures: ReadonlyArray<{
    readonly step: string;
    readonly shardId?: string;
    readonly error: string;
    readonly cause?: string;
  }>;
}

const sum = (values: ReadonlyArray<number | null>): number =>
  values.reduce<number>((n, v) => n + (v ?? 0), 0);

/** Totals per shard and overall of what the run found and fixed, with every step that failed. */
export function buildReport(input: ReportInput): ReconciliationReport {
  const failures: Array<ReconciliationReport['failures'][number]> = [];
  const caught = (step: string, error: CaughtError | undefined, shardId?: string) => {
    if (error === undefined) return;
    failures.push({
      step,
      ...(shardId === undefined ? {} : { shardId }),
      error: error.Error,
      ...(error.Cause === undefined ? {} : { cause: error.Cause }),
    });
  };
  const shards = input.shards.map((s): ShardReport => {
    caught('reconcileIndex', s.indexError, s.shardId);
    caught('findEventGaps', s.gapsError, s.shardId);
    // After a failed search the workflow leaves an empty placeholder: its counts are unknown, not zero.
    const gaps = s.gapsError === undefined ? s.gaps : undefined;
    return {
      shardId: s.shardId,
      rows: s.index?.rows ?? null,
      missing: s.index?.missing ?? null,
      stale: s.index?.stale ?? null,
      conflicts: s.index?.conflicts ?? null,
      repaired: s.index?.repaired ?? null,
      eventsChecked: gaps?.checked ?? null,
      gapEvents: gaps?.gapEvents ?? null,
      gapRanges: gaps?.ranges.length ?? null,
    };
  });
  caught('sweepIndex', input.sweepError);
  caught('replayGaps', input.replayError);
  if (input.sweep !== undefined && !input.sweep.done && input.sweepError === undefined) {
    failures.push({
      step: 'sweepIndex',
      error: 'SweepIncomplete',
      cause: `stopped at cursor ${input.sweep.cursor}`,
    });
  }
  const sweep =
    input.sweep === undefined
      ? null
      : { scanned: input.sweep.scanned, extra: input.sweep.extra, removed: input.sweep.removed };
  return {
    window: input.window,
    complete: failures.length === 0,
    shards,
    totals: {
      missing: sum(shards.map((s) => s.missing)),
      stale: sum(shards.map((s) => s.stale)),
      extra: sweep?.extra ?? 0,
      conflicts: sum(shards.map((s) => s.conflicts)),
      repaired: sum(shards.map((s) => s.repaired)) + (sweep?.removed ?? 0),
      gapEvents: sum(shards.map((s) => s.gapEvents)),
      replayed: input.replay?.replayed ?? 0,
      poison: Math.max(
        0,
        ...input.shards.map((s) => (s.gapsError === undefined ? (s.gaps?.poison ?? 0) : 0)),
      ),
    },
    sweep,
    failures,
  };
}
