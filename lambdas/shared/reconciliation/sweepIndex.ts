import type { CustomerIndex, IndexedCustomer, IndexKeyEntry } from '../index/CustomerIndex.js';
import { customersById } from '../index/customerRows.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import type { StepPolicy } from './stepPolicy.js';

/** Where a sweep stands; passed from one step to the next by the workflow. */
export interface SweepState {
  /** SCAN cursor to continue from; `'0'` with `done: false` is the start. */
  readonly cursor: string;
  readonly done: boolean;
  /** Email and phone keys examined so far. */
  readonly scanned: number;
  /** Keys pointing at a customer whose row does not hold the value. */
  readonly extra: number;
  /** Extra keys deleted (an extra key re-indexed by the consumer meanwhile is kept). */
  readonly removed: number;
}

export const SWEEP_START: SweepState = { cursor: '0', done: false, scanned: 0, extra: 0, removed: 0 };

export interface SweepDependencies {
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly router: ShardRouter;
  readonly index: CustomerIndex;
  readonly shardPolicy: StepPolicy;
  readonly indexPolicy: StepPolicy;
  /** SCAN COUNT hint. */
  readonly scanCount: number;
  /** Most keys examined in one step; the workflow loops on the returned cursor. */
  readonly keysPerStep: number;
}

/**
 * One bounded step of the sweep: SCANs email and phone keys from `state.cursor`, routes each key's
 * customer to its shard and removes the keys whose customer row does not hold the value (or does not
 * exist). Removal is conditional (`CustomerIndex.dropStale`): a key the consumer re-pointed or re-indexed
 * after the row was read survives.
 *
 * @throws {ShardUnavailableError} or {IndexUnavailableError} when a dependency stays unreachable.
 */
export async function sweepIndexStep(deps: SweepDependencies, state: SweepState): Promise<SweepState> {
  let { cursor, scanned, extra, removed } = state;
  let examined = 0;
  do {
    const page = await deps.indexPolicy.execute(() => deps.index.scanEntries(cursor, deps.scanCount), {
      cursor,
    });
    cursor = page.cursor;
    examined += page.entries.length;
    scanned += page.entries.length;
    const rows = await rowsOf(deps, page.entries);
    const orphans = page.entries.filter((e) => rows.get(e.customerId)?.[e.kind] !== e.value);
    extra += orphans.length;
    const dropped = await deps.indexPolicy.execute(
      () =>
        Promise.all(
          orphans.map((e) =>
            deps.index.dropStale(e.kind, e.value, e.customerId, rows.get(e.customerId)?.eventCount ?? 0),
          ),
        ),
      { cursor },
    );
    removed += dropped.filter(Boolean).length;
  } while (cursor !== '0' && examined < deps.keysPerStep);
  return { cursor, done: cursor === '0', scanned, extra, removed };
}

async function rowsOf(
  deps: SweepDependencies,
  entries: readonly IndexKeyEntry[],
): Promise<Map<string, IndexedCustomer>> {
  const byShard = new Map<string, Set<string>>();
  for (const e of entries) {
    const shardId = deps.router.shardFor(e.customerId).id;
    byShard.set(shardId, (byShard.get(shardId) ?? new Set()).add(e.customerId));
  }
  const rows = new Map<string, IndexedCustomer>();
  await Promise.all(
    [...byShard].map(async ([shardId, ids]) => {
      const client = deps.shards.get(shardId);
      if (client === undefined) throw new RangeError(`no SQL client for ${shardId}`);
      const found = await deps.shardPolicy.execute(() => customersById(client, [...ids]), { shardId });
      for (const row of found) rows.set(row.customerId, row);
    }),
  );
  return rows;
}
