import { SqlError } from './errors.js';

/** Data API exceptions after which the same call can succeed later. */
const RETRIABLE_EXCEPTIONS = new Set([
  'DatabaseResumingException', // Serverless v2 waking from zero capacity
  'DatabaseUnavailableException',
  'ServiceUnavailableError',
  'ThrottlingException',
  'InternalServerErrorException',
  'StatementTimeoutException',
  'TransactionNotFoundException', // the transaction died with its connection (failover, restart)
  'TimeoutError', // SDK socket/connection timeout
]);

/** Configuration, permission and result-shape problems: trying again changes nothing. */
const PERMANENT_EXCEPTIONS = new Set([
  'ForbiddenException',
  'AccessDeniedException',
  'DatabaseNotFoundException',
  'SecretsErrorException',
  'InvalidSecretException',
  'UnsupportedResultException',
  'HttpEndpointNotEnabledException',
  'InvalidResourceStateException',
  'NotFoundException',
]);

/** The same SQLSTATEs `classifyPgError` retries, so both adapters answer alike; class 08 is added below. */
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
  'EAI_AGAIN',
]);

/** Connection and failover symptoms the Data API reports inside BadRequest/DatabaseError messages. */
const RETRIABLE_MESSAGES = [
  /Communications link failure/i,
  /is being failed over/i,
  /The last packet sent successfully/i,
  /Connection refused/i,
  /terminating connection/i,
  /the database system is (?:starting up|shutting down|in recovery)/i,
];

/** PostgreSQL errors come through as `...; SQLState: 23505` at the end of the message. */
const SQLSTATE_IN_MESSAGE = /SQLState:\s*([0-9A-Z]{5})\b/i;

const stringProperty = (error: unknown, key: 'name' | 'code' | '$fault'): string | undefined => {
  if (typeof error === 'object' && error !== null && key in error) {
    const value: unknown = Reflect.get(error, key);
    if (typeof value === 'string') return value;
  }
  return undefined;
};

const isRetriableSqlState = (state: string): boolean =>
  RETRIABLE_SQLSTATES.has(state) || state.startsWith('08');

/**
 * Wraps an error thrown by the RDS Data API client into a classified `SqlError`. The code in its context
 * is the SQLSTATE when the message carries one, else the exception name (or Node error code).
 * Programming errors (`TypeError`, `RangeError`) are never retriable.
 */
export function classifyDataApiError(error: unknown, client: string): SqlError {
  if (error instanceof SqlError) return error;
  const name = stringProperty(error, 'name');
  const nodeCode = stringProperty(error, 'code');
  const message = error instanceof Error ? error.message : String(error);
  const sqlState = SQLSTATE_IN_MESSAGE.exec(message)?.[1]?.toUpperCase();
  const code = sqlState ?? (name !== undefined && name !== 'Error' ? name : nodeCode);

  let retriable: boolean;
  if (error instanceof TypeError || error instanceof RangeError) retriable = false;
  else if (name !== undefined && PERMANENT_EXCEPTIONS.has(name)) retriable = false;
  else if (name !== undefined && RETRIABLE_EXCEPTIONS.has(name)) retriable = true;
  else {
    // BadRequest, DatabaseError and anything unmodelled: retriable only on evidence of a transient cause.
    retriable =
      (sqlState !== undefined && isRetriableSqlState(sqlState)) ||
      (nodeCode !== undefined && RETRIABLE_NODE_CODES.has(nodeCode)) ||
      // An unmodelled 5xx (a proxy in front of the endpoint, say) is the service's fault, not ours.
      stringProperty(error, '$fault') === 'server' ||
      RETRIABLE_MESSAGES.some((pattern) => pattern.test(message));
  }
  return new SqlError(`${client}: ${message}`, retriable, { client, code }, { cause: error });
}
