import { TaskCancelledError } from 'cockatiel';
import { classifyKafkaError } from '../kafka/classifyKafkaError.js';
import { isRetriable } from '../kafka/errors.js';
import { kafkaPolicy } from '../kafka/policies.js';
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

/**
 * Whether a failed call to the event log may succeed if repeated. kafkajs errors are classified as the
 * publisher does (`classifyKafkaError`): its exhausted retries and lost connections are an outage, although
 * kafkajs flags `KafkaJSNumberOfRetriesExceeded` not retriable. Other errors (the local log's, the
 * publisher's `PublishError`) carry their own `retriable` flag.
 */
export const isEventLogOutage = (error: unknown): boolean =>
  error instanceof TaskCancelledError || isRetriable(error) || classifyKafkaError(error).retriable;

/**
 * `kafkaPolicy` (timeout per attempt inside jittered exponential retries) around calls whose failures
 * are classified per attempt: an outage becomes `EventLogUnavailableError` (retriable, retried here and
 * matched by the workflows' Retry), anything else `EventLogRequestError` (not retried).
 */
export function eventLogPolicy(settings: ReplaySettings = replaySettings()): EventLogPolicy {
  const policy = kafkaPolicy({
    attemptTimeoutMs: settings.attemptTimeoutMillis,
    retries: settings.retries,
    initialDelayMs: settings.retryInitialDelayMillis,
    maxDelayMs: settings.retryMaxDelayMillis,
  });
  const classified = (error: unknown, context: ReplayErrorContext) => {
    if (error instanceof EventLogUnavailableError || error instanceof EventLogRequestError) return error;
    const message = `event log call failed: ${error instanceof Error ? error.message : String(error)}`;
    return isEventLogOutage(error)
      ? new EventLogUnavailableError(message, { cause: error, context })
      : new EventLogRequestError(message, { cause: error, context });
  };
  return {
    async execute<T>(work: () => Promise<T>, context: ReplayErrorContext = {}): Promise<T> {
      try {
        return await policy.execute(async () => {
          try {
            return await work();
          } catch (error: unknown) {
            throw classified(error, context);
          }
        });
      } catch (error: unknown) {
        // What is left unclassified is the policy's own timeout of the last attempt.
        throw classified(error, context);
      }
    },
  };
}
