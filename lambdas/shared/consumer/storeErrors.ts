import {
  IdempotencyPersistenceLayerError,
  IdempotencyUnknownError,
} from '@aws-lambda-powertools/idempotency';
import { BrokenCircuitError, TaskCancelledError } from 'cockatiel';
import { RedisDeadlineError } from '../redis/createRedisClient.js';

/*
 * Classified by class, never by `error.name`: cockatiel's errors do not set it (a BrokenCircuitError is
 * named 'Error'), so a name list silently misses them.
 */

/**
 * Redis could not serve the idempotency store: unreachable, or not answering before the deadline. Only
 * these count against the idempotency breaker.
 */
export const isIdempotencyStoreFailure = (error: unknown): boolean =>
  error instanceof IdempotencyPersistenceLayerError ||
  error instanceof RedisDeadlineError ||
  error instanceof TaskCancelledError;

/**
 * The store cannot tell whether the event was applied: it failed (above), its breaker is open, or it
 * holds an in-progress or inconsistent record (an interrupted delivery, or the same event earlier in
 * this batch). The database guard then decides alone, in the same transaction as the effect.
 */
export const isUndecidedByStore = (error: unknown): boolean =>
  isIdempotencyStoreFailure(error) ||
  error instanceof BrokenCircuitError ||
  error instanceof IdempotencyUnknownError;
