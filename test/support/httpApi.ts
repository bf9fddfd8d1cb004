import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { HttpApi } from '../../lambdas/shared/http/index.js';
import { createLambdaContext } from '../../local/esm/lambdaContext.js';

/** A request as a test writes it; the rest of the HTTP API event is filled in. */
export interface ApiCall {
  readonly method: string;
  /** The path after the stage prefix, if any. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  /** Bytes are sent base64-encoded, as API Gateway passes a body that is not text. */
  readonly body?: string | Uint8Array;
  readonly query?: Readonly<Record<string, string>>;
  /** `$default` unless told. */
  readonly stage?: string;
}

/** The payload format 2.0 event API Gateway sends for `call`. */
export function apiEvent(call: ApiCall): APIGatewayProxyEventV2 {
  const stage = call.stage ?? '$default';
  const rawPath = stage === '$default' ? call.path : `/${stage}${call.path}`;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(call.headers ?? {})) {
    if (value !== undefined) headers[name] = value;
  }
  const { body } = call;
  const bytes = body !== undefined && typeof body !== 'string';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: new URLSearchParams(Object.entries(call.query ?? {})).toString(),
    headers,
    ...(call.query === undefined ? {} : { queryStringParameters: call.query }),
    requestContext: {
      accountId: '111111111111',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: {
        method: call.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'test',
      },
      requestId: 'request-1',
      routeKey: '$default',
      stage,
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 1_767_225_600_000,
    },
    ...(body === undefined || body.length === 0
      ? {}
      : { body: bytes ? Buffer.from(body).toString('base64') : body }),
    isBase64Encoded: bytes && body.length > 0,
  };
}

export interface ApiAnswer {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | number | boolean>>;
  readonly body: string;
}

/** A Lambda context with 30 s left. */
export const lambdaContext = (): Context =>
  createLambdaContext(
    {
      functionName: 'test',
      functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:test',
      memoryLimitInMB: 1024,
    },
    'request-1',
    Date.now() + 30_000,
  );

/** Resolves `event` on `api` as the function behind the HTTP API would. */
export async function resolveEvent(api: HttpApi, event: APIGatewayProxyEventV2): Promise<ApiAnswer> {
  const result = await api.resolve(event, lambdaContext());
  return { statusCode: result.statusCode ?? 200, headers: result.headers ?? {}, body: result.body ?? '' };
}

/** Resolves `call` on `api` as the function behind the HTTP API would, with a Lambda context. */
export const callApi = (api: HttpApi, call: ApiCall): Promise<ApiAnswer> => resolveEvent(api, apiEvent(call));
