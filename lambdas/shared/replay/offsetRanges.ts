import type { EventLogReader, OffsetRange } from './eventLog.js';

const byPosition = (a: OffsetRange, b: OffsetRange) =>
  a.partition - b.partition || a.fromOffset - b.fromOffset;

/**
 * Per partition, the offsets that may hold records stamped in `[from, to)`: from the first record at or
 * after `from` to the last before the first at or after `to`. Timestamps are the producers' and need not
 * be monotonic, so readers still filter records by time.
 */
export async function rangesForTime(
  reader: EventLogReader,
  topic: string,
  from: number,
  to: number,
): Promise<OffsetRange[]> {
  const [starts, ends] = await Promise.all([
    reader.offsetsForTimestamp(topic, from),
    reader.offsetsForTimestamp(topic, to),
  ]);
  return starts.flatMap((start, partition) => {
    const end = ends[partition] ?? start;
    return end > start ? [{ partition, fromOffset: start, toOffset: end - 1 }] : [];
  });
}

/** Sorts ranges and joins those that overlap or touch, per partition. */
export function mergeRanges(ranges: readonly OffsetRange[]): OffsetRange[] {
  const merged: OffsetRange[] = [];
  for (const range of [...ranges].sort(byPosition)) {
    const last = merged.at(-1);
    if (last !== undefined && last.partition === range.partition && range.fromOffset <= last.toOffset + 1) {
      merged[merged.length - 1] = { ...last, toOffset: Math.max(last.toOffset, range.toOffset) };
    } else {
      merged.push({ ...range });
    }
  }
  return merged;
}

/**
 * Covers the given offsets with at most `maxRanges` ranges (at least one per partition that has offsets):
 * runs of consecutive offsets are ranges, and while there are too many, the runs separated by the
 * smallest holes are joined. A joined range re-delivers the records in its holes too, which is safe:
 * consumers skip what they already applied.
 */
export function boundedRanges(
  offsets: ReadonlyMap<number, readonly number[]>,
  maxRanges: number,
): OffsetRange[] {
  const runs = mergeRanges(
    [...offsets].flatMap(([partition, list]) =>
      list.map((offset) => ({ partition, fromOffset: offset, toOffset: offset })),
    ),
  );
  const limit = Math.max(maxRanges, offsets.size);
  if (runs.length <= limit) return runs;
  const holes: number[] = [];
  runs.forEach((run, i) => {
    const next = runs[i + 1];
    if (next !== undefined && next.partition === run.partition) holes.push(next.fromOffset - run.toOffset);
  });
  // Joining every hole up to the k-th smallest leaves at most `limit` ranges (ties may leave fewer).
  const threshold = [...holes].sort((a, b) => a - b)[runs.length - limit - 1] ?? 0;
  const joined: OffsetRange[] = [];
  for (const run of runs) {
    const last = joined.at(-1);
    if (
      last !== undefined &&
      last.partition === run.partition &&
      run.fromOffset - last.toOffset <= threshold
    ) {
      joined[joined.length - 1] = { ...last, toOffset: run.toOffset };
    } else {
      joined.push(run);
    }
  }
  return joined;
}
