import { type IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { IPolicy } from 'cockatiel';
import { conflictKeyOf, type PendingEvent } from '../customers/applyEventsToShard.js';
import { describeError } from '../describeError.js';
import { eventDigest } from '../events/index.js';
import { type RedisClient, untilDeadline } from '../redis/createRedisClient.js';
import type { Counters } from './counters.js';
import { EventRefusedError } from './errors.js';
import { type EventOutcome, isRefused } from './outcomes.js';
import type { ShardBatcher } from './ShardBatcher.js';
import { isOtherBodyInStore, isUndecidedByStore } from './storeErrors.js';

/** Key prefix of the consumer's idempotency records in Redis. */
export const CONSUMER_IDEMPOTENCY_PREFIX = 'cdp-consumer';

export interface SubmitDependencies {
  readonly batcher: ShardBatcher;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Only store failures count against it (see `isIdempotencyStoreFailure`). */
  readonly breaker: IPolicy;
  /** Keyed on `eventId`, validating the body `digest`. */
  readonly config: IdempotencyConfig;
  /** The invocation's view of Redis; undefined while it is not connected. */
  readonly redis: RedisClient | undefined;
  /** Whether Redis is configured at all (a missing store is then counted as bypassed). */
  readonly redisConfigured: boolean;
  readonly deadline: AbortSignal;
}

export type Submit = (shardId: string, pending: PendingEvent) => Promise<EventOutcome>;

/** What one record's pass through the idempotency guard did. */
interface Call {
  outcome?: Promise<EventOutcome>;
}

/**
 * Submits the events of one invocation to the shard batcher, each body once: records of one event id and
 * body share one outcome (each still settles its slot in the batcher, so no shard waits for a straggler),
 * while another body under the same id is submitted apart and the database decides between them.
 * Each event first passes the Powertools idempotency guard (Redis): an event it remembers as done is a
 * duplicate without touching the shards. When the store cannot tell (down, slow past the deadline, breaker
 * open, an in-progress record) the database guard decides alone; when it remembers the id with another
 * body, the database tells a duplicate from a conflict. Refused events (conflicts, database rejections)
 * are never remembered by the store.
 */
export function idempotentSubmit(deps: SubmitDependencies): Submit {
  const { batcher, counters, redis, deadline } = deps;
  const submitted = new Map<string, Promise<EventOutcome>>();
  const submit = (shardId: string, pending: PendingEvent): Promise<EventOutcome> => {
    const key = conflictKeyOf(pending.event);
    const known = submitted.get(key);
    if (known !== undefined) {
      batcher.settleWithoutSubmit(shardId);
      // The same event earlier in this batch: one effect, so this record is a duplicate of it.
      return known.then((outcome) => (outcome === 'applied' || outcome === 'stale' ? 'duplicate' : outcome));
    }
    const outcome = batcher.submit(shardId, pending);
    submitted.set(key, outcome);
    return outcome;
  };

  if (redis === undefined) {
    // Redis is not connected (down, or reconnecting): skip it instead of failing every event on it.
    return (shardId, pending) => {
      if (deps.redisConfigured) counters.idempotencyBypassed += 1;
      return submit(shardId, pending);
    };
  }
  const idempotent = makeIdempotent(
    async (_key: { eventId: string; digest: string }, shardId: string, pending: PendingEvent, call: Call) => {
      call.outcome = submit(shardId, pending);
      const outcome = await call.outcome;
      if (isRefused(outcome)) throw new EventRefusedError(pending.event.eventId);
      return outcome;
    },
    {
      persistenceStore: new CachePersistenceLayer({ client: redis }),
      config: deps.config,
      keyPrefix: CONSUMER_IDEMPOTENCY_PREFIX,
    },
  );

  return async (shardId, pending) => {
    const { eventId } = pending.event;
    if (deadline.aborted) {
      counters.idempotencyBypassed += 1;
      return submit(shardId, pending);
    }
    const call: Call = {};
    try {
      const outcome = await deps.breaker.execute(() =>
        untilDeadline(
          idempotent({ eventId, digest: eventDigest(pending.event) }, shardId, pending, call),
          deadline,
        ),
      );
      if (call.outcome !== undefined) return outcome;
      // Answered from the store: this event was applied by an earlier delivery.
      batcher.settleWithoutSubmit(shardId);
      return 'duplicate';
    } catch (error: unknown) {
      // Submitted: what happened to the event stands, whatever the store did around it.
      if (call.outcome !== undefined) return call.outcome;
      if (isOtherBodyInStore(error)) return submit(shardId, pending);
      if (!isUndecidedByStore(error)) {
        batcher.settleWithoutSubmit(shardId);
        throw error;
      }
      if (!submitted.has(conflictKeyOf(pending.event))) counters.idempotencyBypassed += 1;
      deps.logger.debug('idempotency store bypassed', { eventId, error: describeError(error) });
      return submit(shardId, pending);
    }
  };
}
