import {
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { isRetriable } from '../resilience/policies.js';
import { EventLogRequestError, EventLogUnavailableError, type ReplayErrorContext } from './errors.js';

/**
 * The numbers of the replay's calls to the event log. One attempt covers a whole request (a look-up of
 * offsets, or the read and copy of one range); a retried range is copied again, which is safe because
 * the consumers are idempotent. Tests pass smaller numbers.
 */
export const REPLAY_DEFAULTS = {
  attemptTimeoutMillis: 120_000,
  retries: 2,
  retryInitialDelayMillis: 500,
  retryMaxDelayMillis: 5_000,
} as const;

export type ReplaySettings = { -readonly [K in keyof typeof REPLAY_DEFAULTS]: number };

export const replaySettings = (overrides: Partial<ReplaySettings> = {}): ReplaySettings => ({
  ...REPLAY_DEFAULTS,
  ...overrides,
});

/** Runs one call to the event log, turning what finally fails into an `EventLog*Error`. */
export interface EventLogPolicy {
  execute<T>(work: () => Promise<T>, context?: ReplayErrorContext): Promise<T>;
}

const isTransient = (error: unknown): boolean => error instanceof TaskCancelledError || isRetriable(error);

/**
 * Timeout per attempt inside jittered exponential retries of transient failures (kafkajs and the local
 * log mark theirs `retriable`).
 */
export function eventLogPolicy(settings: ReplaySettings = replaySettings()): EventLogPolicy {
  const policy: IPolicy = wrap(
    retry(handleWhen(isTransient), {
      maxAttempts: settings.retries,
      backoff: new ExponentialBackoff({
        initialDelay: settings.retryInitialDelayMillis,
        maxDelay: settings.retryMaxDelayMillis,
      }),
    }),
    timeout(settings.attemptTimeoutMillis, TimeoutStrategy.Aggressive),
  );
  return {
    async execute<T>(work: () => Promise<T>, context: ReplayErrorContext = {}): Promise<T> {
      try {
        return await policy.execute(() => work());
      } catch (error: unknown) {
        const message = `event log call failed: ${error instanceof Error ? error.message : String(error)}`;
        if (isTransient(error)) throw new EventLogUnavailableError(message, { cause: error, context });
        throw new EventLogRequestError(message, { cause: error, context });
      }
    },
  };
}
