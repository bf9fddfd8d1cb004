import type { CustomerIndex, IndexedCustomer, IndexedKind } from '../index/CustomerIndex.js';
import { customerPage, customersById } from '../index/customerRows.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import type { StepPolicy } from './stepPolicy.js';

/** What one shard's index check found and fixed. */
export interface IndexCheckResult {
  readonly shardId: string;
  /** Customers read from the shard. */
  readonly rows: number;
  /** Email/phone keys absent for a value a row holds, and customers without an index entry. */
  readonly missing: number;
  /** Keys pointing at another customer that does not hold the value, and entries that disagree with the row. */
  readonly stale: number;
  /** Keys held by two customers at once (left alone: which one the index names is not decidable here). */
  readonly conflicts: number;
  /** Customers whose entries were rewritten from their row. */
  readonly repaired: number;
}

export interface IndexCheckDependencies {
  readonly shardId: string;
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly router: ShardRouter;
  readonly index: CustomerIndex;
  readonly shardPolicy: StepPolicy;
  readonly indexPolicy: StepPolicy;
  readonly pageSize: number;
}

const KINDS: readonly IndexedKind[] = ['email', 'phone'];

/** A key a row should own but another customer's id is in it. */
interface Contested {
  readonly row: IndexedCustomer;
  readonly kind: IndexedKind;
  readonly owner: string;
}

/**
 * Compares one shard's customers with the Redis index, page by page (keyset on the customer id): every
 * email and phone a row holds must point at it, and its entry must name the row's values. A missing or
 * stale entry is rewritten from the row with the index's compare-by-event-count update, so a repair
 * racing the consumer never undoes a newer update. A key pointing at another customer is stale only when
 * that customer's row does not hold the value too.
 *
 * @throws {ShardUnavailableError} or {IndexUnavailableError} when a dependency stays unreachable.
 */
export async function reconcileShardIndex(deps: IndexCheckDependencies): Promise<IndexCheckResult> {
  const client = deps.shards.get(deps.shardId);
  if (client === undefined) throw new RangeError(`no SQL client for ${deps.shardId}`);
  const totals = { rows: 0, missing: 0, stale: 0, conflicts: 0, repaired: 0 };
  let after = '';
  for (;;) {
    const rows = await deps.shardPolicy.execute(() => customerPage(client, after, deps.pageSize), {
      shardId: deps.shardId,
      after,
    });
    totals.rows += rows.length;
    const toRepair = new Map<string, IndexedCustomer>();
    const contested: Contested[] = [];
    const views = await deps.indexPolicy.execute(
      () => Promise.all(rows.map((row) => indexView(deps.index, row))),
      {
        shardId: deps.shardId,
      },
    );
    rows.forEach((row, i) => {
      const view = views[i];
      if (view === undefined) return;
      // The consumer indexed a newer state after this page was read: the index is ahead, not wrong.
      if (view.entry !== null && view.entry.eventCount > row.eventCount) return;
      // A customer registered and erased within one transaction never needed an entry: nothing to index.
      const indexable = row.email !== null || row.phone !== null;
      if (view.entry === null && indexable) {
        totals.missing += 1;
        toRepair.set(row.customerId, row);
      } else if (view.entry !== null && (view.entry.email !== row.email || view.entry.phone !== row.phone)) {
        totals.stale += 1;
        toRepair.set(row.customerId, row);
      }
      for (const kind of KINDS) {
        const owner = view.owners[kind];
        if (row[kind] === null || owner === row.customerId) continue;
        if (owner === null) {
          totals.missing += 1;
          toRepair.set(row.customerId, row);
        } else {
          contested.push({ row, kind, owner });
        }
      }
    });
    for (const c of await holdersOf(deps, contested)) {
      if (c.heldByOwner) {
        totals.conflicts += 1;
      } else {
        totals.stale += 1;
        toRepair.set(c.row.customerId, c.row);
      }
    }
    const repaired = await deps.indexPolicy.execute(
      () => Promise.all([...toRepair.values()].map((row) => deps.index.repair(row))),
      { shardId: deps.shardId },
    );
    totals.repaired += repaired.filter(Boolean).length;
    const last = rows.at(-1);
    if (last === undefined || rows.length < deps.pageSize) break;
    after = last.customerId;
  }
  return { shardId: deps.shardId, ...totals };
}

async function indexView(index: CustomerIndex, row: IndexedCustomer) {
  const [entry, email, phone] = await Promise.all([
    index.entryOf(row.customerId),
    row.email === null ? null : index.ownerOf('email', row.email),
    row.phone === null ? null : index.ownerOf('phone', row.phone),
  ]);
  return { entry, owners: { email, phone } };
}

/** For each contested key, whether the customer it points at holds the value too (read from its shard). */
async function holdersOf(
  deps: IndexCheckDependencies,
  contested: readonly Contested[],
): Promise<Array<Contested & { heldByOwner: boolean }>> {
  if (contested.length === 0) return [];
  const byShard = new Map<string, Set<string>>();
  for (const c of contested) {
    const shardId = deps.router.shardFor(c.owner).id;
    byShard.set(shardId, (byShard.get(shardId) ?? new Set()).add(c.owner));
  }
  const owners = new Map<string, IndexedCustomer>();
  for (const [shardId, ids] of byShard) {
    const client = deps.shards.get(shardId);
    if (client === undefined) throw new RangeError(`no SQL client for ${shardId}`);
    const rows = await deps.shardPolicy.execute(() => customersById(client, [...ids]), { shardId });
    for (const row of rows) owners.set(row.customerId, row);
  }
  return contested.map((c) => ({ ...c, heldByOwner: owners.get(c.owner)?.[c.kind] === c.row[c.kind] }));
}
