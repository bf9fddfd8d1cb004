import { PlatformError } from '../errors.js';
import { isDataExceptionState } from './retriableCodes.js';

/**
 * Raised by every SQL adapter. `retriable` tells the caller whether trying again later can succeed
 * (connection lost, failover in progress, database resuming, serialization failure) or never will
 * (syntax, constraint, permission).
 */
export class SqlError extends PlatformError {
  public override readonly name = 'SqlError';
  declare public readonly context: { readonly client: string; readonly code?: string | undefined };

  public constructor(
    message: string,
    retriable: boolean,
    context: { readonly client: string; readonly code?: string | undefined },
    options?: { cause?: unknown },
  ) {
    super(message, { cause: options?.cause, context, retriable });
  }
}

export const isSqlError = (error: unknown): error is SqlError => error instanceof SqlError;

/**
 * The database refused the rows themselves (SQLSTATE class 22 or 23; see `isDataExceptionState`): never
 * retriable, never a sign of an unavailable database, and caused by particular rows that can be found
 * and set aside while the others are written.
 */
export const isDataRejection = (error: unknown): error is SqlError =>
  error instanceof SqlError && !error.retriable && isDataExceptionState(error.context.code ?? '');
