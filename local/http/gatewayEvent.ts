import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { RouteMatch } from './RouteTable.js';

/** An HTTP request as the server received it, body read in full. */
export interface ReceivedRequest {
  readonly method: string;
  readonly httpVersion: string;
  /** Values by lower-case header name; a header sent several times has several values. */
  readonly headers: Readonly<Record<string, readonly string[] | undefined>>;
  readonly body: Buffer;
  readonly sourceIp: string;
  /** The port the request arrived on (`x-forwarded-port`). */
  readonly localPort: number;
}

/** What API Gateway knows of itself and of this request rather than reads from it. */
export interface GatewayStamp {
  readonly accountId: string;
  readonly apiId: string;
  readonly requestId: string;
  readonly timeEpoch: number;
}

export interface RequestTarget {
  /** The path, percent-decoded as HTTP APIs deliver it (kept as sent when the encoding is malformed). */
  readonly path: string;
  /** The query string as sent, without `?`. */
  readonly rawQueryString: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Content types whose bodies API Gateway passes as text; any other declared type is passed base64-encoded.
 * A body without a content type is text when it is valid UTF-8.
 */
const TEXT_CONTENT_TYPE =
  /^(?:text\/[^;]*|application\/(?:json|javascript|xml|x-www-form-urlencoded|x-ndjson|yaml|graphql)|[^;/]+\/[^;]*\+(?:json|xml))\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

const pad = (n: number): string => String(n).padStart(2, '0');

/** `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`. */
export function requestTime(epochMillis: number): string {
  const d = new Date(epochMillis);
  const date = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}`;
  return `${date}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** An id shaped like API Gateway's (`JKJaXmPLvHcESHA=`), also sent back as `apigw-requestid`. */
export const newRequestId = (): string => randomBytes(11).toString('base64');

const newTraceId = (epochMillis: number): string =>
  `Root=1-${Math.floor(epochMillis / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

const decodeOrKeep = (text: string, decode: (s: string) => string): string => {
  try {
    return decode(text);
  } catch {
    return text;
  }
};

/** Splits a request target (origin form, or absolute form as proxies send it) into path and query. */
export function parseTarget(target: string): RequestTarget {
  const withoutOrigin = target.startsWith('/')
    ? target
    : target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, '');
  const query = withoutOrigin.indexOf('?');
  const rawPath = query === -1 ? withoutOrigin : withoutOrigin.slice(0, query);
  return {
    path: decodeOrKeep(rawPath === '' ? '/' : rawPath, decodeURIComponent),
    rawQueryString: query === -1 ? '' : withoutOrigin.slice(query + 1),
  };
}

/** Decoded query parameters; a name given several times has its values joined with commas. */
function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const decode = (s: string) => decodeOrKeep(s.replaceAll('+', ' '), decodeURIComponent);
  const params = new Map<string, string>();
  for (const pair of rawQueryString.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decode(equals === -1 ? pair : pair.slice(0, equals));
    const value = equals === -1 ? '' : decode(pair.slice(equals + 1));
    const previous = params.get(name);
    params.set(name, previous === undefined ? value : `${previous},${value}`);
  }
  return params.size === 0 ? undefined : Object.fromEntries(params);
}

/** The first label of the host name (`abc123` of `abc123.execute-api...`); an IP address stays whole. */
function domainPrefixOf(domainName: string): string {
  const host = domainName.replace(/:\d+$/, '');
  return /^[\d.]+$|^\[/.test(host) ? host : (host.split('.')[0] ?? host);
}

/** Whether API Gateway would pass this body as text rather than base64. */
export function isTextBody(contentType: string | undefined, body: Buffer): boolean {
  if (contentType !== undefined && contentType !== '') {
    if (!TEXT_CONTENT_TYPE.test(contentType)) return false;
    const charset = CHARSET.exec(contentType)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
      return false;
    }
  }
  return isUtf8(body);
}

/**
 * The payload format 2.0 event API Gateway sends for `request` on the `$default` stage: header names in
 * lower case with repeated headers joined by commas, the `cookie` header moved to `cookies`, the
 * `x-forwarded-*` and `x-amzn-trace-id` headers API Gateway adds, and optional fields absent (not null)
 * when empty.
 */
export function buildGatewayEvent(
  request: ReceivedRequest,
  target: RequestTarget,
  match: RouteMatch,
  stamp: GatewayStamp,
): APIGatewayProxyEventV2 {
  const received = new Map<string, string>();
  const cookies: string[] = [];
  for (const [name, values] of Object.entries(request.headers)) {
    if (values === undefined || values.length === 0) continue;
    if (name === 'cookie') {
      for (const value of values) cookies.push(...value.split(';').flatMap((c) => c.trim() || []));
    } else {
      received.set(name.toLowerCase(), values.join(','));
    }
  }
  const forwardedFor = received.get('x-forwarded-for');
  received.set(
    'x-forwarded-for',
    forwardedFor === undefined ? request.sourceIp : `${forwardedFor}, ${request.sourceIp}`,
  );
  received.set('x-forwarded-port', String(request.localPort));
  received.set('x-forwarded-proto', 'http');
  if (!received.has('x-amzn-trace-id')) received.set('x-amzn-trace-id', newTraceId(stamp.timeEpoch));
  const headers: Record<string, string> = Object.fromEntries(received);

  const domainName = received.get('host') ?? `127.0.0.1:${request.localPort}`;
  const query = queryParameters(target.rawQueryString);
  const hasBody = request.body.length > 0;
  const text = hasBody && isTextBody(received.get('content-type'), request.body);
  return {
    version: '2.0',
    routeKey: match.routeKey,
    rawPath: target.path,
    rawQueryString: target.rawQueryString,
    ...(cookies.length === 0 ? {} : { cookies }),
    headers,
    ...(query === undefined ? {} : { queryStringParameters: query }),
    requestContext: {
      accountId: stamp.accountId,
      apiId: stamp.apiId,
      domainName,
      domainPrefix: domainPrefixOf(domainName),
      http: {
        method: request.method.toUpperCase(),
        path: target.path,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.sourceIp,
        userAgent: received.get('user-agent') ?? '',
      },
      requestId: stamp.requestId,
      routeKey: match.routeKey,
      stage: '$default',
      time: requestTime(stamp.timeEpoch),
      timeEpoch: stamp.timeEpoch,
    },
    ...(match.pathParameters === undefined ? {} : { pathParameters: { ...match.pathParameters } }),
    ...(hasBody ? { body: request.body.toString(text ? 'utf8' : 'base64') } : {}),
    isBase64Encoded: hasBody && !text,
  };
}
