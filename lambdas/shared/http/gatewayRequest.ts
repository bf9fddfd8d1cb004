import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { decodeUtf8 } from '../events/index.js';

/** A request as the routes see it, read once from the HTTP API event (payload format 2.0). */
export interface ApiRequest {
  readonly method: string;
  /** The path without the stage prefix: `/v1/events`. */
  readonly path: string;
  /** Path parameters of the matched route, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * The body as text, decoded from base64 when API Gateway encoded it; the raw bytes when they are not
   * UTF-8, so that validation refuses them instead of reading U+FFFD.
   */
  readonly body: string | Uint8Array;
  readonly context?: Context | undefined;
}

/** The path of `event` as the API defines it: on a named stage `rawPath` starts with the stage name. */
export function pathOf(event: APIGatewayProxyEventV2): string {
  const { stage } = event.requestContext;
  const prefix = `/${stage}`;
  return stage !== '$default' && (event.rawPath === prefix || event.rawPath.startsWith(`${prefix}/`))
    ? event.rawPath.slice(prefix.length) || '/'
    : event.rawPath;
}

/** The request of `event`, before routing (no path parameters yet). */
export function requestOf(event: APIGatewayProxyEventV2, context?: Context): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  const raw = event.body ?? '';
  let body: string | Uint8Array = raw;
  if (event.isBase64Encoded) {
    const bytes = Buffer.from(raw, 'base64');
    body = decodeUtf8(bytes) ?? bytes;
  }
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: pathOf(event),
    params: {},
    query: event.queryStringParameters ?? {},
    headers,
    body,
    context,
  };
}
