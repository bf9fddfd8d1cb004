import { mkdtemp, rm } from 'node:fs/promises';
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import { ApiGatewayServer, type ApiGatewayServerOptions } from '../../local/http/ApiGatewayServer.js';
import { FunctionTimeoutError, InvalidRouteError } from '../../local/http/errors.js';
import { ingestGatewayRoutes, logPublisher } from '../../local/http/ingestApi.js';
import { type GatewayHandler, type GatewayRoute, RouteTable } from '../../local/http/RouteTable.js';
import { LocalLog } from '../../local/log/index.js';
import { quietTelemetry } from '../support/emf.js';
import { registered } from '../support/events.js';

const TOPIC = 'customer-events.v1';
const TEN_MB = 10 * 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9+/]{15}=$/;
const TRACE_ID = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const REQUEST_TIME = /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const servers: ApiGatewayServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function start(
  routes: GatewayRoute[],
  options: Omit<ApiGatewayServerOptions, 'routes'> = {},
): Promise<ApiGatewayServer> {
  const server = await ApiGatewayServer.start({ routes, ...options });
  servers.push(server);
  return server;
}

/** A handler that records what it is invoked with and answers `result`. */
function recorder(result: APIGatewayProxyResultV2<unknown> = { statusCode: 200, body: 'ok' }) {
  const calls: Array<{ event: APIGatewayProxyEventV2; context: Context; remainingMillis: number }> = [];
  const handler: GatewayHandler = async (event, context) => {
    calls.push({ event, context, remainingMillis: context.getRemainingTimeInMillis() });
    return result;
  };
  return { calls, handler };
}

interface Received {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request on its own connection, so that the headers sent are exactly these. */
function send(
  url: string,
  path: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

const jsonOf = (received: Received): unknown => JSON.parse(received.body.toString('utf8'));

describe('the event a handler receives', () => {
  it('turns a GET with path and query parameters into the payload 2.0 event API Gateway sends', async () => {
    const one = recorder();
    const server = await start([
      { routeKey: 'GET /v1/customers/{customerId}', handler: one.handler, functionName: 'query' },
      { routeKey: 'GET /v1/customers', handler: recorder().handler },
    ]);

    const response = await send(
      server.url,
      '/v1/customers/c%2042?email=a%40example.com&tag=x&tag=y&flag&q=a+b',
      {
        headers: {
          'User-Agent': 'cdp-test/1.0',
          'X-Custom': ['one', 'two'],
          Cookie: 'session=abc; theme=dark',
        },
      },
    );

    expect(response.status).toBe(200);
    expect(one.calls).toHaveLength(1);
    const { event, context, remainingMillis } = one.calls[0] ?? expect.unreachable();
    const host = `127.0.0.1:${server.port}`;
    expect(event).toStrictEqual({
      version: '2.0',
      routeKey: 'GET /v1/customers/{customerId}',
      rawPath: '/v1/customers/c 42',
      rawQueryString: 'email=a%40example.com&tag=x&tag=y&flag&q=a+b',
      cookies: ['session=abc', 'theme=dark'],
      headers: {
        host,
        connection: 'close',
        'user-agent': 'cdp-test/1.0',
        'x-custom': 'one,two',
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-port': String(server.port),
        'x-forwarded-proto': 'http',
        'x-amzn-trace-id': expect.stringMatching(TRACE_ID),
      },
      queryStringParameters: { email: 'a@example.com', tag: 'x,y', flag: '', q: 'a b' },
      requestContext: {
        accountId: '111111111111',
        apiId: 'localapi',
        domainName: host,
        domainPrefix: '127.0.0.1',
        http: {
          method: 'GET',
          path: '/v1/customers/c 42',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'cdp-test/1.0',
        },
        requestId: response.headers['apigw-requestid'],
        routeKey: 'GET /v1/customers/{customerId}',
        stage: '$default',
        time: expect.stringMatching(REQUEST_TIME),
        timeEpoch: expect.any(Number),
      },
      pathParameters: { customerId: 'c 42' },
      isBase64Encoded: false,
    });
    expect(event.requestContext.requestId).toMatch(REQUEST_ID);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5_000);
    expect(context).toMatchObject({
      functionName: 'query',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:query',
      awsRequestId: expect.stringMatching(UUID),
    });
    expect(remainingMillis).toBeGreaterThan(25_000);
    expect(remainingMillis).toBeLessThanOrEqual(30_000);
  });

  it('passes a JSON body as text and leaves out the fields the request has no values for', async () => {
    const one = recorder({ statusCode: 202, body: '{}' });
    const server = await start([{ routeKey: 'POST /v1/events', handler: one.handler }]);
    const body = JSON.stringify({ type: 'customer.registered', customerId: 'c-1', note: 'grüße' });

    await send(server.url, '/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      body,
    });

    const { event } = one.calls[0] ?? expect.unreachable();
    expect(event).toStrictEqual({
      version: '2.0',
      routeKey: 'POST /v1/events',
      rawPath: '/v1/events',
      rawQueryString: '',
      headers: {
        host: `127.0.0.1:${server.port}`,
        connection: 'close',
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'idempotency-key': 'k-1',
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-port': String(server.port),
        'x-forwarded-proto': 'http',
        'x-amzn-trace-id': expect.stringMatching(TRACE_ID),
      },
      requestContext: expect.objectContaining({
        http: {
          method: 'POST',
          path: '/v1/events',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: '',
        },
        routeKey: 'POST /v1/events',
        stage: '$default',
      }),
      body,
      isBase64Encoded: false,
    });
  });

  it('base64-encodes a binary body and sets isBase64Encoded', async () => {
    const one = recorder();
    const server = await start([{ routeKey: 'POST /upload', handler: one.handler }]);
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x10, 0x80]);

    await send(server.url, '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });

    const { event } = one.calls[0] ?? expect.unreachable();
    expect(event.isBase64Encoded).toBe(true);
    expect(event.body).toBe(bytes.toString('base64'));
  });
});

describe('the response', () => {
  it('maps statusCode, headers, cookies and body of a structured result', async () => {
    const server = await start([
      {
        routeKey: 'POST /things',
        handler: recorder({
          statusCode: 201,
          headers: { 'Content-Type': 'text/plain', 'x-count': 3, 'x-new': true },
          cookies: ['a=1; Path=/', 'b=2'],
          body: 'created',
        }).handler,
      },
    ]);

    const response = await send(server.url, '/things', { method: 'POST', body: 'x' });

    expect(response.status).toBe(201);
    expect(response.headers).toMatchObject({
      'content-type': 'text/plain',
      'x-count': '3',
      'x-new': 'true',
      'set-cookie': ['a=1; Path=/', 'b=2'],
      'content-length': '7',
    });
    expect(response.headers['apigw-requestid']).toMatch(REQUEST_ID);
    expect(response.body.toString()).toBe('created');
  });

  it('decodes a base64 body the function marked isBase64Encoded', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251]);
    const server = await start([
      {
        routeKey: 'GET /file',
        handler: recorder({ statusCode: 200, body: bytes.toString('base64'), isBase64Encoded: true }).handler,
      },
    ]);

    const response = await send(server.url, '/file');

    expect(response.body).toEqual(bytes);
  });

  it('answers a string result as a 200 JSON response, as API Gateway infers it', async () => {
    const server = await start([{ routeKey: 'GET /hello', handler: async () => 'Hello from Lambda!' }]);

    const response = await send(server.url, '/hello');

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.body.toString()).toBe('Hello from Lambda!');
  });

  it('answers an object without statusCode as its JSON with 200', async () => {
    const server = await start([{ routeKey: 'GET /obj', handler: async () => ({ message: 'hi', n: 1 }) }]);

    const response = await send(server.url, '/obj');

    expect(response.status).toBe(200);
    expect(jsonOf(response)).toEqual({ message: 'hi', n: 1 });
  });

  it('answers 500 when the result has no valid statusCode', async () => {
    const onInvocationError = vi.fn();
    const server = await start([{ routeKey: 'GET /bad', handler: recorder({ statusCode: 42 }).handler }], {
      onInvocationError,
    });

    const response = await send(server.url, '/bad');

    expect(response.status).toBe(500);
    expect(jsonOf(response)).toEqual({ message: 'Internal Server Error' });
    expect(onInvocationError).toHaveBeenCalledOnce();
  });
});

describe('routing', () => {
  it('answers 404 Not Found without invoking anything when no route matches and there is no $default', async () => {
    const one = recorder();
    const server = await start([{ routeKey: 'POST /v1/events', handler: one.handler }]);

    const unknownPath = await send(server.url, '/v1/nothing', { method: 'POST', body: '{}' });
    const otherMethod = await send(server.url, '/v1/events');
    const trailingSlash = await send(server.url, '/v1/events/', { method: 'POST', body: '{}' });

    for (const response of [unknownPath, otherMethod, trailingSlash]) {
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).toBe('application/json');
      expect(jsonOf(response)).toEqual({ message: 'Not Found' });
    }
    expect(one.calls).toHaveLength(0);
  });

  it('sends an unmatched request to the $default route with routeKey $default', async () => {
    const fallback = recorder();
    const server = await start([
      { routeKey: 'GET /v1/customers/{customerId}', handler: recorder().handler },
      { routeKey: '$default', handler: fallback.handler },
    ]);

    await send(server.url, '/v1/other?x=1', { method: 'DELETE' });

    const { event } = fallback.calls[0] ?? expect.unreachable();
    expect(event.routeKey).toBe('$default');
    expect(event.requestContext.routeKey).toBe('$default');
    expect(event.rawPath).toBe('/v1/other');
    expect(event.requestContext.http.method).toBe('DELETE');
    expect(event).not.toHaveProperty('pathParameters');
  });

  it('chooses the most specific route: literal over variable over greedy, a method over ANY', () => {
    const route = (routeKey: string): GatewayRoute => ({ routeKey, handler: async () => routeKey });
    const table = new RouteTable([
      route('ANY /files/{proxy+}'),
      route('GET /files/{name}'),
      route('GET /files/readme'),
      route('ANY /files/{name}/meta'),
      route('PUT /files/{name}/meta'),
    ]);

    expect(table.match('GET', '/files/readme')?.routeKey).toBe('GET /files/readme');
    expect(table.match('GET', '/files/a')).toMatchObject({
      routeKey: 'GET /files/{name}',
      pathParameters: { name: 'a' },
    });
    expect(table.match('POST', '/files/a')?.routeKey).toBe('ANY /files/{proxy+}');
    expect(table.match('GET', '/files/a/b/c')).toMatchObject({ pathParameters: { proxy: 'a/b/c' } });
    expect(table.match('PUT', '/files/a/meta')?.routeKey).toBe('PUT /files/{name}/meta');
    expect(table.match('GET', '/files/a/meta')?.routeKey).toBe('ANY /files/{name}/meta');
    expect(table.match('GET', '/files')).toBeUndefined();
  });

  it.each([
    ['GET v1/events', 'no leading slash'],
    ['FETCH /v1/events', 'unknown method'],
    ['GET /{proxy+}/more', 'greedy variable before the end'],
    ['GET /a/{x}/{x}', 'repeated variable'],
  ])('rejects the route key %s (%s)', (routeKey) => {
    expect(() => new RouteTable([{ routeKey, handler: async () => '' }])).toThrow(InvalidRouteError);
  });

  it('rejects two routes that differ only in variable names', () => {
    const handler = async () => '';
    expect(
      () =>
        new RouteTable([
          { routeKey: 'GET /a/{x}', handler },
          { routeKey: 'GET /a/{y}', handler },
        ]),
    ).toThrow(InvalidRouteError);
  });
});

describe('limits and failures', () => {
  it('answers 413 above 10 MB without invoking the function, and accepts exactly 10 MB', async () => {
    const one = recorder();
    const server = await start([{ routeKey: 'POST /big', handler: one.handler }]);
    const headers = { 'content-type': 'application/octet-stream' };

    const atLimit = await send(server.url, '/big', { method: 'POST', headers, body: Buffer.alloc(TEN_MB) });
    const overLimit = await send(server.url, '/big', {
      method: 'POST',
      headers,
      body: Buffer.alloc(TEN_MB + 1),
    });

    expect(atLimit.status).toBe(200);
    expect(overLimit.status).toBe(413);
    expect(jsonOf(overLimit)).toEqual({ message: 'Request Entity Too Large' });
    expect(one.calls).toHaveLength(1);
    expect(Buffer.from(one.calls[0]?.event.body ?? '', 'base64')).toHaveLength(TEN_MB);
  });

  it("answers API Gateway's 500 Internal Server Error when the handler throws", async () => {
    const onInvocationError = vi.fn();
    const failure = new Error('database exploded');
    const server = await start(
      [
        {
          routeKey: 'GET /boom',
          handler: async () => {
            throw failure;
          },
        },
      ],
      { onInvocationError },
    );

    const response = await send(server.url, '/boom');

    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toBe('application/json');
    expect(jsonOf(response)).toEqual({ message: 'Internal Server Error' });
    expect(response.body.toString()).not.toContain('database');
    expect(onInvocationError).toHaveBeenCalledWith(
      failure,
      expect.objectContaining({ routeKey: 'GET /boom' }),
    );
  });

  it('answers 503 Service Unavailable once the integration timeout passes, without waiting for the handler', async () => {
    let finish: () => void = () => undefined;
    const server = await start(
      [
        {
          routeKey: 'GET /slow',
          handler: () =>
            new Promise((resolve) => {
              finish = () => resolve({ statusCode: 200, body: 'late' });
            }),
        },
      ],
      { integrationTimeoutMillis: 100 },
    );

    const response = await send(server.url, '/slow');
    finish();

    expect(response.status).toBe(503);
    expect(jsonOf(response)).toEqual({ message: 'Service Unavailable' });
  });

  it('answers 500 when the function times out before the integration does, with the remaining time counting down', async () => {
    const onInvocationError = vi.fn();
    let remaining = Number.NaN;
    const server = await start(
      [
        {
          routeKey: 'GET /stuck',
          functionTimeoutMillis: 100,
          handler: (_event, context) => {
            remaining = context.getRemainingTimeInMillis();
            return new Promise(() => undefined);
          },
        },
      ],
      { integrationTimeoutMillis: 5_000, onInvocationError },
    );

    const response = await send(server.url, '/stuck');

    expect(response.status).toBe(500);
    expect(remaining).toBeLessThanOrEqual(100);
    expect(onInvocationError).toHaveBeenCalledWith(expect.any(FunctionTimeoutError), expect.anything());
  });
});

describe('the ingest API through the local API Gateway', () => {
  it('accepts a batch with 202 and the events land in the log keyed by customerId', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdp-apigw-'));
    dirs.push(dir);
    const log = await LocalLog.open(dir, { fsync: false });
    await log.createTopic(TOPIC, 4);
    const service = new IngestService({
      publisher: logPublisher(log),
      topic: TOPIC,
      ...quietTelemetry('ingest'),
    });
    const server = await start(ingestGatewayRoutes(service));
    const events = [
      registered('c-1', 0),
      registered('c-2', 1),
      { ...registered('c-1', 2), eventId: undefined },
    ];

    const batch = await fetch(`${server.url}/v1/events/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    const single = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(registered('c-3', 0)),
    });
    const wrongMethod = await fetch(`${server.url}/v1/events`);

    expect(batch.status).toBe(202);
    const accepted = (await batch.json()) as { accepted: number; eventIds: string[] };
    expect(accepted.accepted).toBe(3);
    expect(accepted.eventIds.slice(0, 2)).toEqual([events[0]?.eventId, events[1]?.eventId]);
    expect(accepted.eventIds[2]).toMatch(UUID);
    expect(single.status).toBe(202);
    const singleId = ((await single.json()) as { eventIds: string[] }).eventIds[0];
    expect(wrongMethod.status).toBe(404);

    // A separate instance reads, as the consumer's process would.
    const reader = await LocalLog.open(dir, { fsync: false });
    const records = [];
    for (let partition = 0; partition < 4; partition += 1) {
      const end = await reader.endOffset(TOPIC, partition);
      if (end > 0) records.push(...(await reader.read(TOPIC, partition, 0, end)));
    }
    const landed = records.map((r) => ({
      key: r.key?.toString('utf8'),
      envelope: JSON.parse(r.value?.toString('utf8') ?? 'null') as { customerId: string; eventId: string },
    }));
    expect(landed).toHaveLength(4);
    for (const { key, envelope } of landed) expect(key).toBe(envelope.customerId);
    expect(landed.map((l) => l.envelope.eventId).sort()).toEqual([...accepted.eventIds, singleId].sort());
    const c1 = landed.filter((l) => l.key === 'c-1').map((l) => l.envelope.eventId);
    expect(c1).toEqual([accepted.eventIds[0], accepted.eventIds[2]]);
  });
});
