import type { z } from 'zod';
import {
  type ApiErrorCode,
  type ApiResponse,
  type ErrorResponseOptions,
  errorResponse,
  type FieldIssue,
  jsonResponse,
} from '../shared/http/index.js';
import type { CustomerQueries } from '../shared/query/index.js';

export type HttpResponse = ApiResponse;

/** Customer data is personal: no shared cache may keep it. */
export const NO_STORE = { 'cache-control': 'no-store' } as const;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return jsonResponse(statusCode, body, { ...NO_STORE, ...headers });
}

/** An error answer in the shape of both HTTP APIs, never kept by a shared cache. */
export function problem(
  statusCode: number,
  error: ApiErrorCode,
  message: string,
  options: ErrorResponseOptions = {},
): HttpResponse {
  return errorResponse(statusCode, error, message, {
    ...options,
    headers: { ...NO_STORE, ...options.headers },
  });
}

export interface RouteContext {
  readonly customers: CustomerQueries;
  /** The path as the API defines it (without a stage prefix). */
  readonly path: string;
  /** Path parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
}

export interface Route {
  readonly method: 'GET';
  /** A path template; `{name}` matches one segment. */
  readonly path: string;
  readonly handle: (context: RouteContext) => Promise<HttpResponse>;
}

/**
 * 400 with the offending fields: `{ issues: [{ path: 'email', message: 'Invalid email address' }] }`, an
 * unknown query parameter named by itself.
 */
export function invalid(error: z.ZodError): HttpResponse {
  const issues: FieldIssue[] = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: key, message: 'is not a supported parameter' }))
      : [{ path: issue.path.map(String).join('.') || 'request', message: issue.message }],
  );
  return problem(400, 'validation', 'The request is not valid.', { issues });
}
