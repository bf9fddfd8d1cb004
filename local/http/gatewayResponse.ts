import { validateHeaderName, validateHeaderValue } from 'node:http';
import { MalformedIntegrationResponseError } from './errors.js';

/** What the server writes back: status, headers (a header sent several times has several values), body. */
export interface GatewayResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
}

/** API Gateway's own answers when no function response reaches the client, with its bodies. */
export const GATEWAY_ERRORS = {
  notFound: { statusCode: 404, message: 'Not Found' },
  payloadTooLarge: { statusCode: 413, message: 'Request Entity Too Large' },
  internal: { statusCode: 500, message: 'Internal Server Error' },
  unavailable: { statusCode: 503, message: 'Service Unavailable' },
} as const;

export type GatewayErrorKind = keyof typeof GATEWAY_ERRORS;

/** `{"message":"Not Found"}` and the like, as API Gateway sends them. */
export function gatewayError(kind: GatewayErrorKind): GatewayResponse {
  const { statusCode, message } = GATEWAY_ERRORS[kind];
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ message })),
  };
}

/** Headers about the connection, which API Gateway owns; a function cannot set them. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Lambda hands API Gateway the function's result as JSON; what cannot be serialized fails the invocation. */
function serialize(result: unknown): string {
  try {
    return JSON.stringify(result) ?? 'null';
  } catch (error: unknown) {
    throw new MalformedIntegrationResponseError('the result is not serializable as JSON', { cause: error });
  }
}

function headersOf(value: unknown, cookies: unknown): Record<string, string | string[]> {
  if (value !== undefined && !isRecord(value))
    throw new MalformedIntegrationResponseError('headers is not an object');
  const headers = new Map<string, string | string[]>();
  for (const [name, raw] of Object.entries(value ?? {})) {
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      throw new MalformedIntegrationResponseError(`header ${name} is not a string, number or boolean`);
    }
    const lower = name.toLowerCase();
    if (CONNECTION_HEADERS.has(lower)) continue;
    headers.set(lower, String(raw));
  }
  if (cookies !== undefined) {
    if (!Array.isArray(cookies) || !cookies.every((c): c is string => typeof c === 'string')) {
      throw new MalformedIntegrationResponseError('cookies is not an array of strings');
    }
    const existing = headers.get('set-cookie');
    headers.set('set-cookie', [...(existing === undefined ? [] : [existing].flat()), ...cookies]);
  }
  for (const [name, header] of headers) {
    try {
      validateHeaderName(name);
      for (const v of [header].flat()) validateHeaderValue(name, v);
    } catch (error: unknown) {
      throw new MalformedIntegrationResponseError(`header ${name} cannot be sent`, { cause: error });
    }
  }
  return Object.fromEntries(headers);
}

/**
 * The HTTP response API Gateway makes of a function's result (payload format 2.0). A result with a
 * `statusCode` is a structured response: `headers`, `cookies` (each one `set-cookie` header), `body`,
 * `isBase64Encoded`. Any other result is the body of a 200 `application/json` response: a string as is,
 * anything else as its JSON.
 *
 * @throws {MalformedIntegrationResponseError} when API Gateway would answer 500 instead.
 */
export function toGatewayResponse(result: unknown): GatewayResponse {
  const json = serialize(result);
  const payload: unknown = JSON.parse(json);
  if (!isRecord(payload) || !('statusCode' in payload)) {
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(typeof payload === 'string' ? payload : json),
    };
  }
  const { statusCode, body, isBase64Encoded } = payload;
  if (
    typeof statusCode !== 'number' ||
    !Number.isInteger(statusCode) ||
    statusCode < 100 ||
    statusCode > 599
  ) {
    throw new MalformedIntegrationResponseError(
      `statusCode ${JSON.stringify(statusCode)} is not an HTTP status`,
    );
  }
  if (body !== undefined && body !== null && typeof body !== 'string') {
    throw new MalformedIntegrationResponseError('body is not a string');
  }
  const text = body ?? '';
  return {
    statusCode,
    headers: headersOf(payload.headers ?? undefined, payload.cookies ?? undefined),
    body: isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text),
  };
}
