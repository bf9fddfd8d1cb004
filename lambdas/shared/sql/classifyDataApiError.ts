import * as RdsData from '@aws-sdk/client-rds-data';
import { SqlError } from './errors.js';
import { isDataExceptionState, RETRIABLE_NODE_CODES, RETRIABLE_SQLSTATES } from './retriableCodes.js';

/** Data API exceptions after which the same call can succeed later. */
const RETRIABLE_EXCEPTIONS = [
  RdsData.DatabaseResumingException, // Serverless v2 waking from zero capacity
  RdsData.DatabaseUnavailableException,
  RdsData.ServiceUnavailableError,
  RdsData.InternalServerErrorException,
  RdsData.StatementTimeoutException,
  RdsData.TransactionNotFoundException, // the transaction died with its connection (failover, restart)
];

/**
 * Transient failures the SDK raises without an exported class: throttling (an unmodelled service error,
 * named after its code) and the HTTP handler's socket or connection timeout. Their name is the only mark
 * they carry, so they alone are known by it.
 */
const RETRIABLE_UNMODELLED_NAMES = new Set(['ThrottlingException', 'TimeoutError']);

/** Configuration, permission and result-shape problems: trying again changes nothing. */
const PERMANENT_EXCEPTIONS = [
  RdsData.ForbiddenException,
  RdsData.AccessDeniedException,
  RdsData.DatabaseNotFoundException,
  RdsData.SecretsErrorException,
  RdsData.InvalidSecretException,
  RdsData.UnsupportedResultException,
  RdsData.HttpEndpointNotEnabledException,
  RdsData.InvalidResourceStateException,
  RdsData.NotFoundException,
];

const isAnyOf = (error: unknown, classes: ReadonlyArray<abstract new (...args: never[]) => Error>): boolean =>
  classes.some((exception) => error instanceof exception);

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
  // The data itself was refused: whatever the envelope says about the service, the same rows fail again.
  else if (sqlState !== undefined && isDataExceptionState(sqlState)) retriable = false;
  else if (isAnyOf(error, PERMANENT_EXCEPTIONS)) retriable = false;
  else if (isAnyOf(error, RETRIABLE_EXCEPTIONS)) retriable = true;
  else if (name !== undefined && RETRIABLE_UNMODELLED_NAMES.has(name)) retriable = true;
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
