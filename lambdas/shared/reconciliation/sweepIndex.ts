import type { CustomerIndex, IndexKeyEntry } from '../index/CustomerIndex.js';
import type { ShardRouter } from '../sharding/index.js';
import { type SqlClient, SqlJson } from '../sql/index.js';
import type { StepPolicy } from './policies.js';

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

const ROWS_BY_ID = `
  SELECT customer_id, email, phone, event_count::float8 AS event_count
  FROM customers
  WHERE customer_id IN (SELECT jsonb_array_elements_text(:ids::jsonb))`;

type Row = {
  customer_id: string;
  email: string | null;
  phone: string | null;
  event_count: number;
};

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
): Promise<Map<string, { email: string | null; phone: string | null; eventCount: number }>> {
  const byShard = new Map<string, Set<string>>();
  for (const e of entries) {
    const shardId = deps.router.shardFor(e.customerId).id;
    byShard.set(shardId, (byShard.get(shardId) ?? new Set()).add(e.customerId));
  }
  const rows = new Map<string, { email: string | null; phone: string | null; eventCount: number }>();
  await Promise.all(
    [...byShard].map(async ([shardId, ids]) => {
      const client = deps.shards.get(shardId);
      if (client === undefined) throw new RangeError(`no SQL client for ${shardId}`);
      const result = await deps.shardPolicy.execute(
        () => client.query<Row>(ROWS_BY_ID, { ids: new SqlJson([...ids]) }),
        { shardId },
      );
      for (const r of result.rows) {
        rows.set(r.customer_id, { email: r.email, phone: r.phone, eventCount: Number(r.event_count) });
      }
    }),
  );
  return rows;
}
