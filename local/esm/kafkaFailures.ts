import kafkajs from 'kafkajs';
import { causesOf } from '../../lambdas/shared/errors.js';

// kafkajs is CommonJS and spreads its error classes into module.exports, which Node's ESM loader cannot
// see as named exports: take them from the default export.
const { KafkaJSError, KafkaJSProtocolError } = kafkajs;

/** Errors that mean this member lost the partition or the group is moving: leave it to the new owner. */
const REBALANCE_CODES = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
]);

/** Whether the failure, or one of its causes, says the group is rebalancing or this member left it. */
export const isRebalance = (error: unknown): boolean =>
  [...causesOf(error)].some((e) => e instanceof KafkaJSProtocolError && REBALANCE_CODES.has(e.type));

/**
 * Whether a failure to commit or to write the destination may clear up. Every kafkajs error counts: kafkajs
 * reports a broker that stayed unreachable through its own retries as a non-retriable error wrapping the
 * connection error, and a member must outlast a whole cluster outage, not give up on it.
 */
export const isRetriable = (error: unknown): boolean => {
  if (error instanceof TypeError || error instanceof RangeError) return false;
  if (error instanceof KafkaJSError) return true;
  return typeof error === 'object' && error !== null && 'retriable' in error && error.retriable === true;
};

/** One line for a log field: the error's name and message, or the thrown value as text. */
export const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);
