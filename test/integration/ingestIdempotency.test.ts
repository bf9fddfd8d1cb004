import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type WiredIngest, wireIngest } from '../../lambdas/ingest/dependencies.js';
import { createRedisClient, type RedisClient } from '../../lambdas/shared/redis/createRedisClient.js';
import { RedisServer, waitFor } from '../../local/services/index.js';
import { RecordingPublisher } from '../lambdas/ingest/recordingPublisher.js';
import { quietTelemetry } from '../support/emf.js';
import { registered } from '../support/events.js';
import { type ApiCall, callApi } from '../support/httpApi.js';

const TOPIC = 'customer-events.v1';

const incoming = (customerId: string): Record<string, unknown> => {
  const { eventId: _assignedByTheApi, ...rest } = registered(customerId, 0);
  return rest;
};

const post = (path: string, body: unknown, idempotencyKey?: string): ApiCall => ({
  method: 'POST',
  path,
  headers: {
    'content-type': 'application/json',
    ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
  },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const bodyOf = (response: { body: string }) => JSON.parse(response.body);

async function wire(
  server: RedisServer,
  publisher: RecordingPublisher,
  logger: Logger,
): Promise<WiredIngest> {
  return wireIngest({
    topic: TOPIC,
    publisher,
    redis: { url: server.url },
    logger,
    metrics: quietTelemetry().metrics,
    settings: { redisBreakerHalfOpenAfterMillis: 100 },
  });
}

describe('Idempotency-Key on real Redis', () => {
  let server: RedisServer;
  let wired: WiredIngest;
  let inspect: RedisClient;
  const publisher = new RecordingPublisher();

  beforeAll(async () => {
    server = await RedisServer.start({ name: 'ingest-idempotency' });
    wired = await wire(server, publisher, new Logger({ serviceName: 'ingest', logLevel: 'SILENT' }));
    inspect = createRedisClient({ url: server.url }, () => undefined);
    await inspect.connect();
  });

  afterAll(async () => {
    inspect?.destroy();
    await wired?.close();
    await server?.destroy();
  });

  afterEach(() => {
    publisher.calls.length = 0;
  });

  it('answers a repeated key and body with the identical response, eventIds included, and publishes once', async () => {
    const request = post(
      '/v1/events/batch',
      { events: [incoming('same-1'), incoming('same-2')] },
      'key-same',
    );

    const first = await callApi(wired.router, request);
    const second = await callApi(wired.router, request);

    expect(first.statusCode).toBe(202);
    expect(bodyOf(first).eventIds).toHaveLength(2);
    expect(second).toEqual(first);
    expect(publisher.calls).toHaveLength(1);
    expect(publisher.published.map((e) => e.eventId)).toEqual(bodyOf(first).eventIds);
  });

  it('treats the same JSON with other key order and spacing as the same body', async () => {
    const event = incoming('reordered');
    const reordered = Object.fromEntries(Object.entries(event).reverse());

    const first = await callApi(wired.router, post('/v1/events', JSON.stringify(event), 'key-reordered'));
    const second = await callApi(
      wired.router,
      post('/v1/events', JSON.stringify(reordered, null, 2), 'key-reordered'),
    );

    expect(second).toEqual(first);
    expect(publisher.calls).toHaveLength(1);
  });

  it('answers 422 to the same key with a different body, publishes nothing, and keeps the first response', async () => {
    const first = await callApi(wired.router, post('/v1/events', incoming('first-body'), 'key-reused'));

    const reused = await callApi(wired.router, post('/v1/events', incoming('other-body'), 'key-reused'));
    const again = await callApi(wired.router, post('/v1/events', incoming('first-body'), 'key-reused'));

    expect(reused.statusCode).toBe(422);
    expect(bodyOf(reused)).toEqual({
      error: 'idempotency-key-reused',
      message: 'Idempotency-Key reused with a different body',
    });
    expect(again).toEqual(first);
    expect(publisher.calls).toHaveLength(1);
  });

  it('publishes every request without a key, each with new eventIds', async () => {
    const request = post('/v1/events', incoming('no-key'));

    const first = await callApi(wired.router, request);
    const second = await callApi(wired.router, request);

    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    expect(bodyOf(first).eventIds).not.toEqual(bodyOf(second).eventIds);
    expect(publisher.calls).toHaveLength(2);
  });

  it('keeps keys of the single and the batch route apart', async () => {
    const single = await callApi(wired.router, post('/v1/events', incoming('route-a'), 'key-route'));
    const batch = await callApi(
      wired.router,
      post('/v1/events/batch', { events: [incoming('route-b')] }, 'key-route'),
    );

    expect([single.statusCode, batch.statusCode]).toEqual([202, 202]);
    expect(publisher.calls).toHaveLength(2);
  });

  it('does not remember a failed publish: the retry with the same key publishes', async () => {
    publisher.failNextWith(Object.assign(new Error('broker down'), { retriable: true }));
    const request = post('/v1/events', incoming('retry-after-503'), 'key-503');

    const failed = await callApi(wired.router, request);
    const retried = await callApi(wired.router, request);

    expect(failed.statusCode).toBe(503);
    expect(failed.headers['retry-after']).toBe('5');
    expect(retried.statusCode).toBe(202);
    expect(publisher.calls).toHaveLength(1);
  });

  it('answers 409 with Retry-After while the same key is in flight, then replays the result', async () => {
    const release = publisher.hold();
    const request = post('/v1/events', incoming('in-flight'), 'key-in-flight');

    const pending = callApi(wired.router, request);
    await waitFor(async () => (await inFlightRecords()) > 0, {
      timeoutMs: 5_000,
      description: 'in-progress record',
    });
    const concurrent = await callApi(wired.router, request);
    release();
    const first = await pending;
    const later = await callApi(wired.router, request);

    expect(concurrent.statusCode).toBe(409);
    expect(concurrent.headers['retry-after']).toBe('1');
    expect(bodyOf(concurrent).error).toBe('idempotency-key-in-progress');
    expect(first.statusCode).toBe(202);
    expect(later).toEqual(first);
    expect(publisher.calls).toHaveLength(1);
  });

  it('stores a completed record with the TTL under the ingest prefix', async () => {
    await callApi(wired.router, post('/v1/events', incoming('stored'), 'key-stored'));

    const keys = await keysLike('cdp-ingest#*');
    const records = await Promise.all(keys.map(async (k) => JSON.parse((await inspect.get(k)) ?? '{}')));
    const ttl = await inspect.ttl(keys[0] ?? '');

    expect(records.every((r) => r.status === 'COMPLETED')).toBe(true);
    expect(ttl).toBeGreaterThan(24 * 3_600 - 60);
    expect(ttl).toBeLessThanOrEqual(24 * 3_600 + 1);
  });

  async function keysLike(pattern: string): Promise<string[]> {
    return inspect.keys(pattern);
  }

  async function inFlightRecords(): Promise<number> {
    const values = await Promise.all((await keysLike('cdp-ingest#*')).map((k) => inspect.get(k)));
    return values.filter((v) => v?.includes('INPROGRESS')).length;
  }
});

describe('Idempotency-Key while Redis is unavailable', () => {
  let server: RedisServer;
  let wired: WiredIngest;
  const publisher = new RecordingPublisher();
  const logger = new Logger({ serviceName: 'ingest', logLevel: 'SILENT' });
  const warn = vi.spyOn(logger, 'warn');

  beforeAll(async () => {
    server = await RedisServer.start({ name: 'ingest-outage' });
    wired = await wire(server, publisher, logger);
  });

  afterAll(async () => {
    await wired?.close();
    await server?.destroy();
  });

  afterEach(() => {
    publisher.calls.length = 0;
    warn.mockClear();
  });

  it('still accepts and publishes when Redis is down, without the guard, and logs the bypass', async () => {
    await server.stop();
    await waitFor(() => wired.redis?.isReady === false, {
      timeoutMs: 5_000,
      description: 'client to notice',
    });
    const request = post('/v1/events', incoming('outage'), 'key-outage');

    const first = await callApi(wired.router, request);
    const second = await callApi(wired.router, request);

    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    expect(publisher.calls).toHaveLength(2);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/idempotency store bypassed/), expect.anything());
  });

  it('enforces the key again once Redis is back', async () => {
    await server.start();
    await waitFor(() => wired.redis?.isReady === true, {
      timeoutMs: 15_000,
      description: 'client to reconnect',
    });
    const request = post('/v1/events', incoming('recovered'), 'key-recovered');

    const first = await callApi(wired.router, request);
    const second = await callApi(wired.router, request);

    expect(second).toEqual(first);
    expect(publisher.calls).toHaveLength(1);
  });

  it('answers within the Redis command timeout when Redis hangs, publishing without the guard', async () => {
    const admin = createRedisClient({ url: server.url }, () => undefined);
    await admin.connect();
    await admin.sendCommand(['CLIENT', 'PAUSE', '1500', 'ALL']);
    try {
      const started = performance.now();
      const response = await callApi(wired.router, post('/v1/events', incoming('hanging'), 'key-hanging'));
      const elapsed = performance.now() - started;

      expect(response.statusCode).toBe(202);
      expect(elapsed).toBeLessThan(1_000);
      expect(publisher.calls).toHaveLength(1);
    } finally {
      await admin.sendCommand(['CLIENT', 'UNPAUSE']);
      admin.destroy();
    }
  });
});
