import { TaskCancelledError } from 'cockatiel';
import { isRetriable } from '../errors.js';
import { isTransientRedisError } from '../redis/transientRedisError.js';
import type { ReconciliationSettings } from '../resilience/defaults.js';
import { reconciliationCallPolicy } from '../resilience/named.js';
import {
  IndexUnavailableError,
  type ReconciliationError,
  type ReconciliationErrorContext,
  ReconciliationStepError,
  ShardUnavailableError,
} from './errors.js';

/** A named policy: runs one call, and turns what finally fails into the step error the workflow matches. */
export interface StepPolicy {
  execute<T>(work: () => Promise<T>, context?: ReconciliationErrorContext): Promise<T>;
}

/** The reconciliation's call policy (`reconciliationCallPolicy`), translating what finally fails. */
function stepPolicy(
  settings: ReconciliationSettings,
  isTransient: (error: unknown) => boolean,
  unavailable: new (
    message: string,
    options: { cause: unknown; context?: ReconciliationErrorContext },
  ) => ReconciliationError,
  what: string,
): StepPolicy {
  const policy = reconciliationCallPolicy(settings, isTransient);
  return {
    async execute<T>(work: () => Promise<T>, context: ReconciliationErrorContext = {}): Promise<T> {
      try {
        return await policy.execute(() => work());
      } catch (error: unknown) {
        const message = `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
        if (error instanceof TaskCancelledError || isTransient(error)) {
          throw new unavailable(message, { cause: error, context });
        }
        throw new ReconciliationStepError(message, { cause: error, context });
      }
    },
  };
}

/** Reads of a shard (`SqlError`s classified retriable by the adapters are transient). */
export const shardReadPolicy = (settings: ReconciliationSettings): StepPolicy =>
  stepPolicy(settings, isRetriable, ShardUnavailableError, 'shard read');

/** Reads and repairs of the Redis index. */
export const indexPolicy = (settings: ReconciliationSettings): StepPolicy =>
  stepPolicy(settings, isTransientRedisError, IndexUnavailableError, 'index call');
