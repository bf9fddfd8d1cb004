import { TaskCancelledError } from 'cockatiel';
import kafkajs from 'kafkajs';
import { causesOf } from '../errors.js';
import { PublishError } from '../ingest/publisher.js';
import { BootstrapBrokersError } from './errors.js';

// kafkajs is CommonJS and spreads its error classes into module.exports, which Node's ESM loader cannot
// see as named exports: take them from the default export.
const {
  KafkaJSBrokerNotFound,
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
} = kafkajs;

/**
 * Whether a failed publish lost its connection or its deadline, so that the brokers are worth discovering
 * again: a connection error, the publish deadline, or a broker kafkajs no longer knows.
 */
export const isConnectionFailure = (error: unknown): boolean =>
  [...causesOf(error)].some(
    (e) =>
      e instanceof KafkaJSConnectionError ||
      e instanceof TaskCancelledError ||
      e instanceof KafkaJSBrokerNotFound,
  );

/**
 * The broker's error code (e.g. NOT_ENOUGH_REPLICAS) when the failure, or the last attempt that kafkajs'
 * own retries wrapped in KafkaJSNumberOfRetriesExceeded, carries one; otherwise the error's name.
 */
const codeOf = (error: unknown): string | undefined => {
  for (const e of causesOf(error)) if (e instanceof KafkaJSProtocolError) return e.type;
  return error instanceof Error ? error.name : undefined;
};

/**
 * Whether a failed publish may succeed later, as a {@link PublishError}:
 * - retriable: connection errors, request timeouts, kafkajs' exhausted retries, the publish deadline,
 *   a transient `GetBootstrapBrokers` failure, and any kafkajs error flagged `retriable` (leader moves,
 *   not enough replicas);
 * - fatal: kafkajs errors flagged not retriable (for example TOPIC_AUTHORIZATION_FAILED,
 *   MESSAGE_TOO_LARGE, INVALID_RECORD, SASL failures), `TypeError`/`RangeError`, and anything unknown.
 *
 * A `PublishError` is returned as it is.
 */
export function classifyKafkaError(
  error: unknown,
  context: { readonly topic: string; readonly events: number } = { topic: 'unknown', events: 0 },
): PublishError {
  if (error instanceof PublishError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const fail = (retriable: boolean, code: string | undefined) =>
    new PublishError(
      `publishing ${context.events} event(s) to ${context.topic} failed: ${message}`,
      retriable,
      { ...context, code },
      { cause: error },
    );

  if (error instanceof TypeError || error instanceof RangeError) return fail(false, error.name);
  if (
    error instanceof KafkaJSConnectionError ||
    error instanceof KafkaJSRequestTimeoutError ||
    error instanceof KafkaJSNumberOfRetriesExceeded
  ) {
    return fail(true, codeOf(error));
  }
  if (error instanceof TaskCancelledError) {
    return new PublishError(
      `publishing ${context.events} event(s) to ${context.topic} did not finish in time`,
      true,
      { ...context, code: 'TIMEOUT' },
      { cause: error },
    );
  }
  if (error instanceof BootstrapBrokersError) return fail(error.retriable, 'BOOTSTRAP_BROKERS');
  if (error instanceof KafkaJSError) return fail(error.retriable, codeOf(error));
  return fail(false, codeOf(error));
}
