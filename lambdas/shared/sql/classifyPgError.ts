import { SqlError } from './errors.js';
import { RETRIABLE_NODE_CODES, RETRIABLE_SQLSTATES } from './retriableCodes.js';

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
