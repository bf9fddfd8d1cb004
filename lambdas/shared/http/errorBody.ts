/** One problem with a request, located by a dotted path (`events.3.payload.email`, `(body)`, `customerId`). */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * The `error` code of every 4xx/5xx answer of the ingest and query APIs: stable and machine-readable, where
 * the message is for people and may be reworded.
 */
export type ApiErrorCode =
  | 'validation'
  | 'not-found'
  | 'method-not-allowed'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-progress'
  | 'unavailable'
  | 'internal';

/** The body of every error answer of both HTTP APIs: `{ "error": "not-found", "message": "...", "issues"?: [...] }`. */
export interface ApiErrorBody {
  readonly error: ApiErrorCode;
  readonly message: string;
  /** Present, never empty, when particular fields are at fault (400, 413). */
  readonly issues?: readonly FieldIssue[];
}

/** What a route answers; the Lambda result of payload format 2.0 without its optional fields. */
export interface ApiResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): ApiResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

export interface ErrorResponseOptions {
  readonly issues?: readonly FieldIssue[] | undefined;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An error answer in the one shape both APIs use; `issues` is left out when there are none. */
export function errorResponse(
  statusCode: number,
  error: ApiErrorCode,
  message: string,
  options: ErrorResponseOptions = {},
): ApiResponse {
  const { issues } = options;
  const body: ApiErrorBody = {
    error,
    message,
    ...(issues === undefined || issues.length === 0 ? {} : { issues }),
  };
  return jsonResponse(statusCode, body, options.headers);
}
