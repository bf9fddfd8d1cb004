import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createLambdaContext } from '../esm/lambdaContext.js';
import { FunctionTimeoutError, GatewayListenError, InvalidGatewayOptionError } from './errors.js';
import { buildGatewayEvent, newRequestId, parseTarget, type ReceivedRequest } from './gatewayEvent.js';
import { type GatewayResponse, gatewayError, toGatewayResponse } from './gatewayResponse.js';
import { type GatewayRoute, RouteTable } from './RouteTable.js';

/** The limits of an API Gateway HTTP API that the local server applies. */
export const API_GATEWAY_LIMITS = {
  /** Largest request body: 10 MB. Larger gets 413 without invoking the function. */
  maxPayloadBytes: 10 * 1024 * 1024,
  /** Integration timeout, also its maximum: past it API Gateway answers 503, the function may run on. */
  integrationTimeoutMillis: 30_000,
  /** Smallest integration timeout API Gateway accepts. */
  minIntegrationTimeoutMillis: 50,
} as const;

const HOST = '127.0.0.1';
const LOCAL_FUNCTION_NAME = 'local-function';
const LOCAL_MEMORY_MB = 1024;

export interface ApiGatewayServerOptions {
  readonly routes: readonly GatewayRoute[];
  /** Port on 127.0.0.1; 0 (default) takes a free one. */
  readonly port?: number;
  /** Default and maximum {@link API_GATEWAY_LIMITS.integrationTimeoutMillis}; tests lower it. */
  readonly integrationTimeoutMillis?: number;
  /** Default {@link API_GATEWAY_LIMITS.maxPayloadBytes}. */
  readonly maxPayloadBytes?: number;
  readonly accountId?: string;
  readonly apiId?: string;
  readonly region?: string;
  /**
   * Told of every failed invocation (the handler threw or timed out, or returned what API Gateway cannot
   * send), which the client sees as a bare 500 or 503. Default: one line on stderr, as Lambda logs it.
   */
  readonly onInvocationError?: (error: unknown, event: APIGatewayProxyEventV2) => void;
}

const describe = (error: unknown): string =>
  error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);

const reportToStderr = (error: unknown, event: APIGatewayProxyEventV2): void => {
  console.error(`[api-gateway] ${event.requestContext.requestId} ${event.routeKey}: ${describe(error)}`);
};

/** The body in full; `too-large` once it exceeds `limit` bytes (the rest is read and dropped). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.once('end', () => resolve(size > limit ? 'too-large' : Buffer.concat(chunks, size)));
    // A client that goes away mid-body gets no answer: there is no one to send it to.
    request.once('close', () => {
      if (!request.complete) resolve('aborted');
    });
    request.once('error', () => resolve('aborted'));
  });
}

function write(res: ServerResponse, response: GatewayResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = response.statusCode;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('content-length', response.body.length);
  res.end(response.body);
}

/**
 * An API Gateway HTTP API ($default stage, Lambda proxy integrations with payload format 2.0) on
 * 127.0.0.1: each request becomes the event API Gateway would send, the route's handler is invoked with a
 * Lambda context, and its result becomes the response as API Gateway would map it.
 *
 * API Gateway's own answers: 404 `Not Found` when no route matches and there is no `$default` route, 413
 * `Request Entity Too Large` above 10 MB, 500 `Internal Server Error` when the handler throws, exceeds its
 * function timeout or returns something unusable, 503 `Service Unavailable` when it outlasts the
 * integration timeout (30 s). Each response carries `apigw-requestid`. Not emulated: authorizers (the
 * platform's routes use IAM; no `authorizer` in the event), throttling, CORS, custom domains.
 */
export class ApiGatewayServer {
  private readonly inflight = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly table: RouteTable,
    private readonly options: Required<Omit<ApiGatewayServerOptions, 'routes' | 'port'>>,
    public readonly port: number,
  ) {}

  /**
   * Starts listening on 127.0.0.1.
   * @throws {InvalidRouteError} for a malformed or repeated route key.
   * @throws {InvalidGatewayOptionError} for a timeout or payload limit API Gateway does not allow.
   * @throws {GatewayListenError} when the port is taken.
   */
  public static async start(options: ApiGatewayServerOptions): Promise<ApiGatewayServer> {
    const settings = {
      integrationTimeoutMillis:
        options.integrationTimeoutMillis ?? API_GATEWAY_LIMITS.integrationTimeoutMillis,
      maxPayloadBytes: options.maxPayloadBytes ?? API_GATEWAY_LIMITS.maxPayloadBytes,
      accountId: options.accountId ?? '111111111111',
      apiId: options.apiId ?? 'localapi',
      region: options.region ?? 'eu-west-1',
      onInvocationError: options.onInvocationError ?? reportToStderr,
    };
    const timeout = settings.integrationTimeoutMillis;
    if (
      !Number.isInteger(timeout) ||
      timeout < API_GATEWAY_LIMITS.minIntegrationTimeoutMillis ||
      timeout > API_GATEWAY_LIMITS.integrationTimeoutMillis
    ) {
      throw new InvalidGatewayOptionError('integrationTimeoutMillis', timeout, 'must be 50-30,000 ms');
    }
    if (!Number.isSafeInteger(settings.maxPayloadBytes) || settings.maxPayloadBytes < 1) {
      throw new InvalidGatewayOptionError(
        'maxPayloadBytes',
        settings.maxPayloadBytes,
        'must be a positive integer',
      );
    }
    const table = new RouteTable(options.routes);
    const server = createServer();
    const requested = options.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: unknown) => reject(new GatewayListenError(HOST, requested, error)));
      server.listen(requested, HOST, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : requested;
    const gateway = new ApiGatewayServer(server, table, settings, port);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => gateway.accept(req, res));
    return gateway;
  }

  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  public get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  /** Stops accepting, lets requests in flight finish (each bounded by the integration timeout), closes. */
  public close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      await Promise.allSettled([...this.inflight]);
      this.server.closeAllConnections();
      await closed;
    })();
    return this.closing;
  }

  private accept(req: IncomingMessage, res: ServerResponse): void {
    const work = this.respond(req, res).catch((error: unknown) => {
      // Only a failure of the server itself lands here; the handler's are answered in invoke.
      console.error(`[api-gateway] request failed: ${describe(error)}`);
      if (res.headersSent) res.destroy();
      else write(res, gatewayError('internal'));
    });
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    const timeEpoch = Date.now();
    res.setHeader('apigw-requestid', requestId);
    if (this.closing !== undefined) res.setHeader('connection', 'close');
    const body = await readBody(req, this.options.maxPayloadBytes);
    if (body === 'aborted') return;
    if (body === 'too-large') {
      res.setHeader('connection', 'close');
      return write(res, gatewayError('payloadTooLarge'));
    }
    const target = parseTarget(req.url ?? '/');
    const method = req.method ?? 'GET';
    const match = this.table.match(method, target.path);
    if (match === undefined) return write(res, gatewayError('notFound'));
    const received: ReceivedRequest = {
      method,
      httpVersion: req.httpVersion,
      headers: req.headersDistinct,
      body,
      sourceIp: (req.socket.remoteAddress ?? HOST).replace(/^::ffff:/, ''),
      localPort: this.port,
    };
    const event = buildGatewayEvent(received, target, match, {
      accountId: this.options.accountId,
      apiId: this.options.apiId,
      requestId,
      timeEpoch,
    });
    write(res, await this.invoke(match.route, event));
  }

  /** One Lambda invocation, bounded by the function and integration timeouts; never throws. */
  private async invoke(route: GatewayRoute, event: APIGatewayProxyEventV2): Promise<GatewayResponse> {
    const integrationTimeout = this.options.integrationTimeoutMillis;
    const functionTimeout = route.functionTimeoutMillis ?? integrationTimeout;
    const functionName = route.functionName ?? LOCAL_FUNCTION_NAME;
    const awsRequestId = randomUUID();
    const context = createLambdaContext(
      {
        functionName,
        functionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${functionName}`,
        memoryLimitInMB: LOCAL_MEMORY_MB,
      },
      awsRequestId,
      Date.now() + functionTimeout,
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.min(functionTimeout, integrationTimeout));
    });
    const invocation = Promise.resolve().then(() => route.handler(event, context));
    try {
      const outcome = await Promise.race([invocation.then((result) => ({ result })), timedOut]);
      if (outcome !== 'timeout') return toGatewayResponse(outcome.result);
      // The function runs on, as it does in AWS; whatever it ends with is no one's concern any more.
      invocation.catch(() => undefined);
      if (functionTimeout < integrationTimeout) {
        this.options.onInvocationError(new FunctionTimeoutError(awsRequestId, functionTimeout), event);
        return gatewayError('internal');
      }
      return gatewayError('unavailable');
    } catch (error: unknown) {
      this.options.onInvocationError(error, event);
      return gatewayError('internal');
    } finally {
      clearTimeout(timer);
    }
  }
}
