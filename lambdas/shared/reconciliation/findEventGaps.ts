import { decodeEvent, PoisonRecordError } from '../events/index.js';
import type { EventLogReader, EventLogRecord, OffsetRange } from '../replay/eventLog.js';
import type { EventLogPolicy } from '../replay/eventLogPolicy.js';
import { boundedRanges, rangesForTime } from '../replay/offsetRanges.js';
import type { ShardRouter } from '../sharding/index.js';
import { type SqlClient, SqlJson } from '../sql/index.js';
import { GapSearchStoppedError, InvalidReconciliationInputError } from './errors.js';
import type { StepPolicy } from './stepPolicy.js';

/** The time window of the events topic a reconciliation checks (ISO-8601, `from` included, `to` not). */
export interface ReconciliationWindow {
  readonly from: string;
  readonly to: string;
}

/** What one reconciliation run covers: every shard of the map, one window for all of them. */
export interface ReconciliationPlan {
  readonly shards: readonly string[];
  readonly window: ReconciliationWindow;
}

/**
 * Plans a run: by default the last `lookbackSeconds` up to `settleSeconds` before the run started, so
 * records still on their way through the consumer are not taken for gaps.
 * @throws {InvalidReconciliationInputError} when the window is empty or reversed.
 */
export function planReconciliation(options: {
  readonly shardIds: readonly string[];
  readonly startedAt: number;
  readonly request: { readonly from?: string | undefined; readonly to?: string | undefined };
  readonly lookbackSeconds: number;
  readonly settleSeconds: number;
}): ReconciliationPlan {
  const to =
    options.request.to === undefined
      ? options.startedAt - options.settleSeconds * 1_000
      : Date.parse(options.request.to);
  const from =
    options.request.from === undefined
      ? to - options.lookbackSeconds * 1_000
      : Date.parse(options.request.from);
  if (!(from < to)) {
    throw new InvalidReconciliationInputError(
      `the window is empty: from ${options.request.from} to ${options.request.to}`,
      {
        context: { from, to },
      },
    );
  }
  return {
    shards: [...options.shardIds],
    window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
  };
}

/** What one shard's gap search found. */
export interface GapResult {
  readonly shardId: string;
  /** Valid events of the window that belong to this shard. */
  readonly checked: number;
  /** Records of the window the consumer dead-letters by design (not gaps). */
  readonly poison: number;
  /** Valid events of this shard with no record in its `applied_events`. */
  readonly gapEvents: number;
  /** Whether there is anything to replay (the workflow's choice). */
  readonly hasGaps: boolean;
  /** Offset ranges of the events topic covering the gaps (bounded; may cover applied events too). */
  readonly ranges: readonly OffsetRange[];
}

export interface GapDependencies {
  readonly shardId: string;
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly router: ShardRouter;
  readonly reader: EventLogReader;
  readonly topic: string;
  readonly shardPolicy: StepPolicy;
  readonly logPolicy: EventLogPolicy;
  readonly maxRanges: number;
}

const APPLIED = `
  SELECT event_id::text AS event_id FROM applied_events
  WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid)`;

interface Candidate {
  readonly eventId: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * Finds the events of one shard that the log holds and the shard never applied. The log is the truth:
 * the window's records are read partition by partition and decoded with the consumer's own decoder (a
 * record it dead-letters as poison is no gap); each valid event routed to this shard is looked up in the
 * shard's `applied_events`, a chunk of the log at a time, in one set-based query.
 *
 * @throws {ShardUnavailableError} when the shard stays unreachable.
 * @throws {EventLogUnavailableError} when the log stays unreachable.
 */
export async function findShardGaps(deps: GapDependencies, window: ReconciliationWindow): Promise<GapResult> {
  const client = deps.shards.get(deps.shardId);
  if (client === undefined) throw new RangeError(`no SQL client for ${deps.shardId}`);
  const from = Date.parse(window.from);
  const to = Date.parse(window.to);
  const ranges = await deps.logPolicy.execute(() => rangesForTime(deps.reader, deps.topic, from, to), {
    topic: deps.topic,
    ...window,
  });
  const gaps = new Map<number, number[]>();
  let checked = 0;
  let poison = 0;
  for (const range of ranges) {
    const partitionGaps: number[] = [];
    let shardFailure: unknown;
    const inspect = async (records: readonly EventLogRecord[]) => {
      const mine: Candidate[] = [];
      for (const record of records) {
        if (record.timestamp < from || record.timestamp >= to) continue;
        const candidate = eventOfShard(deps, record);
        if (candidate === 'poison') poison += 1;
        else if (candidate !== undefined) mine.push(candidate);
      }
      checked += mine.length;
      try {
        const missing = await unapplied(deps, client, mine);
        partitionGaps.push(...missing.map((c) => c.offset));
      } catch (error: unknown) {
        // Keep the shard's failure as it is (the log policy would take it for a log failure).
        shardFailure = error;
        throw new GapSearchStoppedError('gap search stopped: the shard failed');
      }
    };
    // A retried read starts the range over: reset what the failed attempt had counted.
    const before = { checked, poison };
    await deps.logPolicy
      .execute(
        () => {
          ({ checked, poison } = before);
          partitionGaps.length = 0;
          return deps.reader.read(deps.topic, range, inspect);
        },
        { topic: deps.topic, ...range },
      )
      .catch((error: unknown) => {
        throw shardFailure ?? error;
      });
    if (partitionGaps.length > 0) gaps.set(range.partition, partitionGaps);
  }
  const bounded = boundedRanges(gaps, deps.maxRanges);
  const gapEvents = [...gaps.values()].reduce((n, list) => n + list.length, 0);
  return {
    shardId: deps.shardId,
    checked,
    poison,
    gapEvents,
    hasGaps: gapEvents > 0,
    ranges: bounded,
  };
}

/** The record's event when it is valid and belongs to this shard; `'poison'` when the consumer dead-letters it. */
function eventOfShard(deps: GapDependencies, record: EventLogRecord): Candidate | 'poison' | undefined {
  try {
    const event = decodeEvent(
      record.value?.toString('base64') ?? null,
      record.key?.toString('base64') ?? null,
    );
    if (deps.router.shardFor(event.customerId).id !== deps.shardId) return undefined;
    return { eventId: event.eventId, partition: record.partition, offset: record.offset };
  } catch (error: unknown) {
    if (error instanceof PoisonRecordError) return 'poison';
    throw error;
  }
}

async function unapplied(
  deps: GapDependencies,
  client: SqlClient,
  candidates: readonly Candidate[],
): Promise<Candidate[]> {
  if (candidates.length === 0) return [];
  const ids = [...new Set(candidates.map((c) => c.eventId))];
  const applied = await deps.shardPolicy.execute(
    () => client.query<{ event_id: string }>(APPLIED, { ids: new SqlJson(ids) }),
    { shardId: deps.shardId },
  );
  const known = new Set(applied.rows.map((r) => r.event_id.toLowerCase()));
  return candidates.filter((c) => !known.has(c.eventId.toLowerCase()));
}
