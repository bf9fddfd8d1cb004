import {
  deliveryOrder,
  type IndexEntry,
  outcomeOf,
  type PendingEvent,
  type ShardApplyResult,
} from '../customers/applyEventsToShard.js';
import { isDataRejection } from '../sql/index.js';
import type { EventOutcome } from './outcomes.js';

export interface IsolatedApplyResult {
  /** What happened to each event handed in. */
  readonly outcomes: ReadonlyMap<PendingEvent, EventOutcome>;
  readonly indexEntries: readonly IndexEntry[];
  /** Transactions it took: 1 unless the database refused some rows. */
  readonly transactions: number;
}

/**
 * Applies `events` in one transaction and, when the database refuses the data of that transaction
 * (SQLSTATE class 22 or 23, see `isDataRejection`), each half apart, down to the single events it
 * refuses: those are reported with the database's reason, every other event is applied in the same
 * invocation. Halves run one after the other in delivery order, so of two bodies under one event id
 * the first delivered is still the one recorded. A set whose halves both pass (a refusal that only
 * their combination caused) is simply applied in two transactions.
 *
 * @param apply - one shard transaction over a subset (through the shard's resilience policy).
 * @throws whatever `apply` throws other than a data rejection (the shard unavailable, a concurrent
 *   writer): retrying the records can help, so they fail together as before.
 */
export async function applyIsolatingRejections(
  events: readonly PendingEvent[],
  apply: (subset: readonly PendingEvent[]) => Promise<ShardApplyResult>,
): Promise<IsolatedApplyResult> {
  const outcomes = new Map<PendingEvent, EventOutcome>();
  const indexEntries: IndexEntry[] = [];
  let transactions = 0;

  const applyOrSplit = async (subset: readonly PendingEvent[]): Promise<void> => {
    transactions += 1;
    let result: ShardApplyResult;
    try {
      result = await apply(subset);
    } catch (error: unknown) {
      if (!isDataRejection(error)) throw error;
      const [only] = subset;
      if (subset.length === 1 && only !== undefined) {
        outcomes.set(only, { rejectedBy: error });
        return;
      }
      const middle = Math.ceil(subset.length / 2);
      await applyOrSplit(subset.slice(0, middle));
      await applyOrSplit(subset.slice(middle));
      return;
    }
    for (const p of subset) {
      const outcome = outcomeOf(result, p.event);
      if (outcome !== undefined) outcomes.set(p, outcome);
    }
    indexEntries.push(...result.indexEntries);
  };

  if (events.length > 0) await applyOrSplit([...events].sort(deliveryOrder));
  return { outcomes, indexEntries, transactions };
}
