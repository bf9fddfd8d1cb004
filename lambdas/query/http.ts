import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import type { CustomerQueries } from '../shared/query/index.js';

/** What the routes see of a request: independent of API Gateway, so they are tested as plain functions. */
export interface HttpRequest {
  readonly method: string;
  /** The path as the API defines it (without a stage prefix). */
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Customer data is personal: no shared cache may keep it. */
const BASE_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** An error body: a stable machine-readable `error` code and a message fit for any caller. */
export function problem(
  statusCode: number,
  error: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): HttpResponse {
  return json(statusCode, { error, message, ...extra }, headers);
}

/**
 * The request of an HTTP API (payload 2.0) event. On a named stage `rawPath` starts with the stage name,
 * which is not part of the API's paths.
 */
export function requestOf(event: APIGatewayProxyEventV2): HttpRequest {
  const { stage, http } = event.requestContext;
  const prefix = `/${stage}`;
  const path =
    stage !== '$default' && event.rawPath.startsWith(`${prefix}/`)
      ? event.rawPath.slice(prefix.length)
      : event.rawPath;
  return { method: http.method.toUpperCase(), path, query: event.queryStringParameters ?? {} };
}

export interface RouteContext {
  readonly customers: CustomerQueries;
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
 * 400 with the offending fields: `{ fieldErrors: { email: ['Invalid email address'] } }`. Field names
 * come from the caller (`?constructor=x`, `?__proto__=x`), so they are gathered in a Map and become own
 * properties only at the end: never looked up on, or assigned through, a plain object's prototype.
 */
export function invalid(error: z.ZodError): HttpResponse {
  const fieldErrors = new Map<string, string[]>();
  const add = (field: string, message: string) => {
    fieldErrors.set(field, [...(fieldErrors.get(field) ?? []), message]);
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add(key, 'is not a supported parameter');
    } else {
      add(issue.path.map(String).join('.') || 'request', issue.message);
    }
  }
  return problem(400, 'ValidationFailed', 'The request is not valid.', {
    fieldErrors: Object.fromEntries(fieldErrors),
  });
}
