import { mkdtemp, rm } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TOPIC } from '../../local/consumer/LocalConsumer.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalApis } from '../../local/platform/LocalApis.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { registered } from '../support/events.js';
import { envelopeOf, generatedEvent } from '../support/hostileEvents.js';

/** Generated requests; each is one HTTP exchange with the local API on loopback. */
const GENERATED_REQUESTS = 1_500;

interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

function send(url: string, r: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // An explicit length: without it Node sends a DELETE or OPTIONS body unframed, which no server can parse.
    const headers =
      r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(r.body.length) };
    const req = request(`${url}${r.path}`, { method: r.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(r.body);
  });
}

const PERCENT_JUNK = ['%ZZ', '%', '%00', '%C3%28', '%ED%A0%80', '%FF', '+', '%2B447700900123', '..', '%2F'];

/** A path or query piece: words, encoded Unicode, broken percent-encoding. */
const piece = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.~-]{0,12}$/),
  fc.string({ unit: 'binary', maxLength: 8 }).map(encodeURIComponent),
  fc.constantFrom(...PERCENT_JUNK),
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'email', 'phone'),
);

const path = fc.oneof(
  fc.constantFrom('/v1/events', '/v1/events/batch', '/v1/customers', '/v1/events/', '/', '/v2/events'),
  piece.map((id) => `/v1/customers/${id}`),
  fc.array(piece, { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
);

const query = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        piece,
        fc.oneof(piece, fc.constantFrom('ada@example.com', 'Ada%40Example.COM', '+447700900123')),
      ),
      {
        maxLength: 4,
      },
    )
    .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`)),
);

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

/** Bodies: random JSON, hostile events single or batched, deep nesting, bytes that are not UTF-8. */
const body = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc
    .tuple(generatedEvent, fc.nat(99))
    .map(([g, n]) => JSON.stringify(envelopeOf(g, n, `fuzz-${n}`).envelope)),
  fc
    .array(fc.tuple(generatedEvent, fc.nat(99)), { minLength: 1, maxLength: 5 })
    .map((list) => JSON.stringify({ events: list.map(([g, n]) => envelopeOf(g, n, `fuzz-${n}`).envelope) })),
  fc
    .integer({ min: 1, max: 20_000 })
    .map((levels) => JSON.stringify({ ...registered('fuzz-deep', 0), payload: deep(levels) })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(
    Buffer.concat([
      Buffer.from('{"type":"customer.registered","payload":{"givenName":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}}'),
    ]),
  ),
);

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/octet-stream',
  undefined,
);

const headersOf = (type: string | undefined, idempotencyKey: string | undefined): Record<string, string> => ({
  ...(type === undefined ? {} : { 'content-type': type }),
  ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
});

const idempotencyKey = fc.option(fc.oneof(fc.uuid(), fc.stringMatching(/^[ -~]{0,300}$/)), {
  nil: undefined,
});
const bytesOf = (value: string | Buffer) => (typeof value === 'string' ? Buffer.from(value) : value);

/** Mostly the API's own routes, so that the handlers (not only the router) meet the hostile input. */
const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        path: fc.constantFrom('/v1/events', '/v1/events/batch'),
        type: fc.oneof(fc.constant('application/json'), contentType),
        key: idempotencyKey,
        body,
      })
      .map((r) => ({
        method: 'POST',
        path: r.path,
        headers: headersOf(r.type, r.key),
        body: bytesOf(r.body),
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(piece, query)
      .map(([id, q]) => ({ method: 'GET', path: `/v1/customers/${id}${q}`, headers: {} })),
  },
  { weight: 2, arbitrary: query.map((q) => ({ method: 'GET', path: `/v1/customers${q}`, headers: {} })) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        path,
        query,
        type: contentType,
        key: idempotencyKey,
        body: fc.option(body, { nil: undefined }),
      })
      .map((r) => ({
        method: r.method,
        path: `${r.path}${r.query}`,
        headers: headersOf(r.type, r.key),
        ...(r.body === undefined ? {} : { body: bytesOf(r.body) }),
      })),
  },
);

/** Requests that once answered 500, and the extremes, sent on every run. */
const KNOWN: FuzzRequest[] = [
  ...['constructor', '__proto__', 'toString'].map((name) => ({
    method: 'GET',
    path: `/v1/customers?${name}=x`,
    headers: {},
  })),
  {
    method: 'POST',
    path: '/v1/events',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(deep(10_000)),
  },
  {
    method: 'POST',
    path: '/v1/events/batch',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ events: ['x'.repeat(300_000)] })),
  },
];

describe('HTTP fuzz of the local API (ingest and query on the real handlers)', () => {
  let services: LocalDataServices;
  let apis: LocalApis;
  let dir: string;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 2, name: 'api-fuzz' });
    dir = await mkdtemp(join(tmpdir(), 'cdp-api-fuzz-'));
    const log = await LocalLog.open(join(dir, 'log'), { fsync: false });
    await log.createTopic(LOCAL_TOPIC, 4);
    apis = await LocalApis.start({
      stream: log,
      shardMap: services.shardMap,
      redisUrl: services.redis?.url,
      logger: new Logger({ serviceName: 'api', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'api' }),
    });
  });

  afterAll(async () => {
    await apis?.close();
    await services?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('never answers 5xx but 503 with Retry-After, and answers every 4xx with a JSON message', async () => {
    const statuses = new Map<number, number>();
    const check = async (r: FuzzRequest) => {
      const answer = await send(apis.url, r);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const where = `${r.method} ${r.path} -> ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`;
      if (answer.status >= 500) {
        expect(answer.status, where).toBe(503);
        expect(answer.headers['retry-after'], where).toMatch(/^\d+$/);
      }
      if (answer.status >= 400 && answer.status < 500) {
        expect(String(answer.headers['content-type']), where).toMatch(/^application\/json/);
        expect(JSON.parse(answer.body.toString('utf8')), where).toMatchObject({
          message: expect.any(String),
        });
      }
    };

    for (const known of KNOWN) await check(known);
    await fc.assert(fc.asyncProperty(fuzzRequest, check), {
      numRuns: GENERATED_REQUESTS,
      endOnFailure: true,
    });

    const requests = [...statuses.values()].reduce((a, b) => a + b, 0);
    console.log(
      JSON.stringify({ fuzz: 'local-api', requests, statuses: Object.fromEntries([...statuses].sort()) }),
    );
    expect(requests).toBe(GENERATED_REQUESTS + KNOWN.length);
  });
});
