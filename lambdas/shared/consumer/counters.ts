import type { EventOutcome } from './outcomes.js';

/** What happened to the events of an invocation, or (as `totals`) of every invocation so far. */
export interface Counters {
  applied: number;
  stale: number;
  duplicates: number;
  /** Dead-lettered because they can never be decoded or validated. */
  poison: number;
  /** Dead-lettered because their event id was recorded with another body. */
  conflicts: number;
  /** Dead-lettered because the database refused their data. */
  rejected: number;
  failed: number;
  /** Moved to the retry topic because their shard was unavailable. */
  parked: number;
  idempotencyBypassed: number;
}

export const noCounts = (): Counters => ({
  applied: 0,
  stale: 0,
  duplicates: 0,
  poison: 0,
  conflicts: 0,
  rejected: 0,
  failed: 0,
  parked: 0,
  idempotencyBypassed: 0,
});

/** Counts an event the shards recorded or recognised; refused ones are counted once dead-lettered. */
export function countRecorded(c: Counters, outcome: EventOutcome): void {
  if (outcome === 'applied') c.applied += 1;
  else if (outcome === 'stale') c.stale += 1;
  else if (outcome === 'duplicate') c.duplicates += 1;
}

/** Adds the counts of `c` to `totals`. */
export function addCounts(totals: Counters, c: Readonly<Counters>): void {
  for (const key of Object.keys(c) as Array<keyof Counters>) totals[key] += c[key];
}
