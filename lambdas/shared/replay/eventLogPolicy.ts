import { TaskCancelledError } from 'cockatiel';
import { isRetriable } from '../errors.js';
import { classifyKafkaError } from '../kafka/classifyKafkaError.js';
import { type ReplaySettings, replaySettings } from '../resilience/defaults.js';
import { eventLogCallPolicy } from '../resilience/named.js';
import { EventLogRequestError, EventLogUnavailableError, type ReplayErrorContext } from './errors.js';

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
 * `eventLogCallPolicy` (timeout per attempt inside jittered exponential retries) around calls whose
 * failures are classified per attempt: an outage becomes `EventLogUnavailableError` (retriable, retried
 * here and matched by the workflows' Retry), anything else `EventLogRequestError` (not retried).
 */
export function eventLogPolicy(settings: ReplaySettings = replaySettings()): EventLogPolicy {
  const policy = eventLogCallPolicy(settings);
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
