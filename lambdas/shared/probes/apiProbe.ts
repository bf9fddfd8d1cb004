import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ProbeReport } from './consumerProbe.js';

/** One request of an API probe and the status the version under test must answer. */
export interface ApiProbeRequest {
  readonly method: 'GET' | 'POST';
  /** The path without stage, e.g. `/v1/events`. */
  readonly path: string;
  readonly body?: unknown;
  /** The route as the HTTP API declares it, when it has path variables: `GET /v1/customers/{customerId}`. */
  readonly routeKey?: string;
  readonly pathParameters?: Readonly<Record<string, string>>;
  readonly expectStatus: number;
}

/** The event API Gateway (HTTP API, payload 2.0) sends a function for `request` on the `$default` stage. */
export function gatewayEvent(request: ApiProbeRequest): APIGatewayProxyEventV2 {
  const now = Date.now();
  const routeKey = request.routeKey ?? `${request.method} ${request.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: request.path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'user-agent': 'cdp-deployment-probe' },
    requestContext: {
      accountId: 'probe',
      apiId: 'probe',
      domainName: 'probe.invalid',
      domainPrefix: 'probe',
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'cdp-deployment-probe',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    ...(request.pathParameters === undefined ? {} : { pathParameters: { ...request.pathParameters } }),
    isBase64Encoded: false,
  };
}

/**
 * An API function's pre-traffic check: each request through the version under test must answer its
 * expected status. A thrown error or another status fails the deployment.
 */
export async function runApiProbe(
  invoke: (event: APIGatewayProxyEventV2) => Promise<unknown>,
  requests: readonly ApiProbeRequest[],
): Promise<ProbeReport> {
  const problems: string[] = [];
  for (const request of requests) {
    try {
      const response = await invoke(gatewayEvent(request));
      const status =
        typeof response === 'object' && response !== null && 'statusCode' in response
          ? response.statusCode
          : undefined;
      if (status !== request.expectStatus) {
        problems.push(
          `${request.method} ${request.path} answered ${String(status)}, not ${request.expectStatus}`,
        );
      }
    } catch (error: unknown) {
      problems.push(`${request.method} ${request.path} failed: ${String(error)}`);
    }
  }
  return { passed: problems.length === 0, problems };
}
