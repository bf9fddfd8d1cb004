import type { ShardOutcome } from '../customers/applyEventsToShard.js';
import type { SqlError } from '../sql/index.js';

/** An event the database refused for its data (SQLSTATE class 22 or 23), set apart from its neighbours. */
export interface RejectedByDatabase {
  readonly rejectedBy: SqlError;
}

/** What happened to one event of an invocation. */
export type EventOutcome = ShardOutcome | RejectedByDatabase;

export const isRejectedByDatabase = (outcome: EventOutcome): outcome is RejectedByDatabase =>
  typeof outcome === 'object';

/** Refused events are dead-lettered, never recorded: the idempotency store must not remember them. */
export const isRefused = (outcome: EventOutcome): boolean =>
  outcome === 'conflict' || isRejectedByDatabase(outcome);
