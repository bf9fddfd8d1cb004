import { type IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { IPolicy } from 'cockatiel';
import { conflictKeyOf, type PendingEvent } from '../customers/applyEventsToShard.js';
import { eventDigest } from '../events/index.js';
import { type RedisClient, untilDeadline } from '../redis/createRedisClient.js';
import type { Counters } from './counters.js';
import { EventRefusedError } from './errors.js';
import { type EventOutcome, isRefused } from './outcomes.js';
import type { ShardBatcher } from './ShardBatcher.js';
import { isUndecidedByStore } from './storeErrors.js';

/** Key prefix of the consumer's idempotency records in Redis. */
export const CONSUMER_IDEMPOTENCY_PREFIX = 'cdp-consumer';

export interface SubmitDependencies {
  readonly batcher: ShardBatcher;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Only store failures count against it (see `isIdempotencyStoreFailure`). */
  readonly breaker: IPolicy;
  /** Keyed on the payload, which is the event id (no JMESPath). */
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

/** The first record of an event id in the invocation, in delivery order: its body is the one recorded. */
interface Leader {
  readonly digest: string;
  readonly outcome: Promise<EventOutcome>;
}

const isRecorded = (outcome: EventOutcome | undefined): boolean =>
  outcome === 'applied' || outcome === 'stale' || outcome === 'duplicate';

/** What the idempotency store remembers of a recorded event: its outcome and the digest of its body. */
interface Remembered {
  readonly outcome: EventOutcome;
  readonly digest: string;
}

/** The body digest of a remembered response; undefined for records written before digests were kept. */
const rememberedDigest = (response: unknown): string | undefined =>
  typeof response === 'object' &&
  response !== null &&
  'digest' in response &&
  typeof response.digest === 'string'
    ? response.digest
    : undefined;

/**
 * Submits the events of one invocation to the shard batcher, each body once: records of one event id and
 * body share one outcome (each still settles its slot in the batcher, so no shard waits for a straggler).
 * Another body under an id waits for the first record of that id (in delivery order, whichever shard each
 * routes to): once the first is recorded, it is a conflict; when the first was refused or failed, it is
 * judged on its own.
 * Each event first passes the Powertools idempotency guard (Redis), which remembers each recorded event
 * with the digest of its body: the same body is a duplicate, another body a conflict, without touching
 * the shards (the store is shared by all shards, so this holds when the other body routes to another
 * shard). When the store cannot tell (down, slow past the deadline, breaker open, an in-progress record,
 * a record without a digest) the database guard decides alone. Refused events (conflicts, database
 * rejections) are never remembered.
 */
export function idempotentSubmit(deps: SubmitDependencies): Submit {
  const { batcher, redis } = deps;
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

  const decide = redis === undefined ? bypassing(deps, submit) : guarded(deps, redis, submit, submitted);
  const leaders = new Map<string, Leader>();
  return (shardId, pending) => {
    const { eventId } = pending.event;
    const digest = eventDigest(pending.event);
    const leader = leaders.get(eventId);
    if (leader === undefined) {
      const outcome = decide(shardId, pending);
      leaders.set(eventId, { digest, outcome });
      return outcome;
    }
    if (leader.digest === digest) return decide(shardId, pending);
    return (async () => {
      // Settled first, so its shard never waits for it; if it is judged after all, it flushes alone.
      batcher.settleWithoutSubmit(shardId);
      const first = await leader.outcome.catch(() => undefined);
      return isRecorded(first) ? 'conflict' : decide(shardId, pending);
    })();
  };
}

/** Redis is not connected (down, or reconnecting): skip it instead of failing every event on it. */
function bypassing(deps: SubmitDependencies, submit: Submit): Submit {
  return (shardId, pending) => {
    if (deps.redisConfigured) deps.counters.idempotencyBypassed += 1;
    return submit(shardId, pending);
  };
}

/** Through the Powertools idempotency guard, degrading to the database guard. */
function guarded(
  deps: SubmitDependencies,
  redis: RedisClient,
  submit: Submit,
  submitted: ReadonlyMap<string, Promise<EventOutcome>>,
): Submit {
  const { batcher, counters, deadline } = deps;
  const idempotent = makeIdempotent(
    async (_eventId: string, shardId: string, pending: PendingEvent, call: Call): Promise<Remembered> => {
      call.outcome = submit(shardId, pending);
      const outcome = await call.outcome;
      if (isRefused(outcome)) throw new EventRefusedError(pending.event.eventId);
      return { outcome, digest: eventDigest(pending.event) };
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
    let remembered: unknown;
    try {
      remembered = await deps.breaker.execute(() =>
        untilDeadline(idempotent(eventId, shardId, pending, call), deadline),
      );
    } catch (error: unknown) {
      // Submitted: what happened to the event stands, whatever the store did around it.
      if (call.outcome !== undefined) return call.outcome;
      if (!isUndecidedByStore(error)) {
        batcher.settleWithoutSubmit(shardId);
        throw error;
      }
      if (!submitted.has(conflictKeyOf(pending.event))) counters.idempotencyBypassed += 1;
      deps.logger.debug('idempotency store bypassed', { eventId, error });
      return submit(shardId, pending);
    }
    if (call.outcome !== undefined) return call.outcome;
    // Answered from the store: an earlier delivery recorded this event id.
    const digest = rememberedDigest(remembered);
    if (digest === undefined) return submit(shardId, pending);
    batcher.settleWithoutSubmit(shardId);
    return digest === eventDigest(pending.event) ? 'duplicate' : 'conflict';
  };
}
