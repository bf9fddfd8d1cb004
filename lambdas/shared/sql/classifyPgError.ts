import { SqlError } from './errors.js';

/** SQLSTATE codes (or classes) after which the same statement can succeed later. */
const RETRIABLE_SQLSTATES = new Set([
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

const RETRIABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const RETRIABLE_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Connection ended unexpectedly/i,
  /terminating connection/i,
];

const codeOf = (error: unknown): string | undefined => {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
};

/** Wraps an error thrown by `pg` into a classified `SqlError`; programming errors stay unretriable. */
export function classifyPgError(error: unknown, client: string): SqlError {
  if (error instanceof SqlError) return error;
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const retriable =
    !(error instanceof TypeError || error instanceof RangeError) &&
    ((code !== undefined &&
      (RETRIABLE_SQLSTATES.has(code) || code.startsWith('08') || RETRIABLE_NODE_CODES.has(code))) ||
      RETRIABLE_MESSAGES.some((pattern) => pattern.test(message)));
  return new SqlError(`${client}: ${message}`, retriable, { client, code }, { cause: error });
}
