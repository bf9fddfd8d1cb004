import type { ApiErrorCode, FieldIssue } from '../http/errorBody.js';

export type { FieldIssue };

/** The `error` codes of the ingest API's request errors (4xx), among those of both HTTP APIs. */
export type IngestErrorCode = Extract<
  ApiErrorCode,
  | 'validation'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-progress'
>;

/**
 * Base of the errors the ingest API answers with a 4xx: the request itself is wrong (or collides with
 * another request), so repeating it unchanged cannot succeed, except where `retriable` says otherwise.
 */
export class IngestError extends Error {
  public override readonly name: string = 'IngestError';
  public readonly retriable: boolean = false;

  public constructor(
    message: string,
    /** The HTTP status the API answers with. */
    public readonly status: number,
    public readonly code: IngestErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The body or a header breaks the contract: malformed JSON, missing or extra fields, wrong types. */
export class RequestValidationError extends IngestError {
  public override readonly name = 'RequestValidationError';

  public constructor(
    public readonly issues: readonly FieldIssue[],
    options?: { cause?: unknown },
  ) {
    super(
      issues.length === 1
        ? 'The request has 1 invalid field'
        : `The request has ${issues.length} invalid fields`,
      400,
      'validation',
      options,
    );
  }
}

/** The body, or one event in it, is larger than the API accepts. */
export class PayloadTooLargeError extends IngestError {
  public override readonly name = 'PayloadTooLargeError';

  public constructor(
    message: string,
    public readonly limitBytes: number,
    public readonly issues: readonly FieldIssue[] = [],
  ) {
    super(message, 413, 'payload-too-large');
  }
}

/** The body is not declared as JSON. */
export class UnsupportedMediaTypeError extends IngestError {
  public override readonly name = 'UnsupportedMediaTypeError';

  public constructor(public readonly contentType: string | undefined) {
    super(
      `Content-Type must be application/json (charset utf-8), not ${contentType === undefined ? 'missing' : JSON.stringify(contentType)}`,
      415,
      'unsupported-media-type',
    );
  }
}

/** An `Idempotency-Key` already used for a request with a different body. */
export class IdempotencyKeyReusedError extends IngestError {
  public override readonly name = 'IdempotencyKeyReusedError';

  public constructor(options?: { cause?: unknown }) {
    super('Idempotency-Key reused with a different body', 422, 'idempotency-key-reused', options);
  }
}

/** A request with the same `Idempotency-Key` is still being processed; the client may retry shortly. */
export class IdempotencyKeyInProgressError extends IngestError {
  public override readonly name = 'IdempotencyKeyInProgressError';
  public override readonly retriable = true;

  public constructor(
    public readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(
      'A request with this Idempotency-Key is still being processed; retry after it completes',
      409,
      'idempotency-key-in-progress',
      options,
    );
  }
}
