/* Shared by both SQL adapters so that the same failure is classified alike whichever path saw it. */

/** SQLSTATE codes (or classes) after which the same statement can succeed later. */
export const RETRIABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P01', // admin_shutdown (primary stopped, failover)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, promoting)
  '53300', // too_many_connections
  '25006', // read_only_sql_transaction (connected to a demoted primary)
  '57014', // query_canceled (statement_timeout)
]);

/** Node socket errors: the network or the server went away. */
export const RETRIABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * SQLSTATE classes in which the database refused the data itself: 22 (data exception: invalid text,
 * out-of-range value, bad JSON) and 23 (integrity constraint violation). Retrying the same rows can
 * never succeed, and they say nothing about the database's health.
 */
export const isDataExceptionState = (state: string): boolean => /^2[23][0-9A-Z]{3}$/.test(state);
