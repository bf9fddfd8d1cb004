import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { createRouter, v1Routes } from '../../../lambdas/ingest/routes.js';
import { MAX_EVENT_BYTES } from '../../../lambdas/shared/events/index.js';
import { type ApiRoute, requestOf } from '../../../lambdas/shared/http/index.js';
import { IngestService } from '../../../lambdas/shared/ingest/IngestService.js';
import { BackpressureError, PublishError } from '../../../lambdas/shared/ingest/publisher.js';
import { MAX_BODY_BYTES } from '../../../lambdas/shared/ingest/validation.js';
import { quietTelemetry } from '../../support/emf.js';
import { registered } from '../../support/events.js';
import { type ApiCall, apiEvent, callApi } from '../../support/httpApi.js';
import { RecordingPublisher } from './recordingPublisher.js';

const TOPIC = 'customer-events.v1';
const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];

function setup() {
  const publisher = new RecordingPublisher();
  let n = 0;
  const service = new IngestService({
    publisher,
    topic: TOPIC,
    ...quietTelemetry('ingest'),
    newEventId: () => ids[n++] ?? `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  });
  const api = createRouter(v1Routes(service));
  return { publisher, route: (call: ApiCall) => callApi(api, call) };
}

const incoming = (customerId = 'c-1'): Record<string, unknown> => {
  const { eventId: _ignored, ...rest } = registered(customerId, 0);
  return rest;
};

const post = (path: string, body: unknown, headers: Record<string, string> = {}): ApiCall => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const bodyOf = (response: { body: string }) => JSON.parse(response.body);

describe('POST /v1/events', () => {
  it('accepts one event with 202, assigns its eventId and publishes it keyed by the topic', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events', incoming('c-7')));

    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toEqual({ accepted: 1, eventIds: [ids[0]] });
    expect(publisher.calls).toHaveLength(1);
    expect(publisher.calls[0]?.topic).toBe(TOPIC);
    expect(publisher.published).toEqual([{ ...incoming('c-7'), eventId: ids[0] }]);
  });

  it("answers with the client's eventId when one is sent", async () => {
    const { route } = setup();
    const event = registered('c-8', 0);

    const response = await route(post('/v1/events', event));

    expect(bodyOf(response)).toEqual({ accepted: 1, eventIds: [event.eventId] });
  });

  it('answers 400 with field-level issues and publishes nothing', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events', { ...incoming(), occurredAt: undefined, extra: true }));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toEqual({
      error: 'validation',
      message: 'The request has 2 invalid fields',
      issues: [
        { path: 'occurredAt', message: 'is required' },
        { path: 'extra', message: 'is not allowed' },
      ],
    });
    expect(publisher.calls).toEqual([]);
  });

  it('answers 400 naming an unknown type@version', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events', { ...incoming(), type: 'customer.teleported' }));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).issues[0].message).toMatch(/unknown event type customer\.teleported@1/);
    expect(publisher.calls).toEqual([]);
  });

  it('answers 400 for malformed JSON', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events', '{"type":"customer.registered",'));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).issues[0]).toEqual({
      path: '(body)',
      message: expect.stringMatching(/not valid JSON/),
    });
    expect(publisher.calls).toEqual([]);
  });

  it('answers 413 for an event over MAX_EVENT_BYTES', async () => {
    const { publisher, route } = setup();

    const response = await route(
      post('/v1/events', { ...incoming(), payload: { pad: 'x'.repeat(MAX_EVENT_BYTES) } }),
    );

    expect(response.statusCode).toBe(413);
    expect(bodyOf(response).error).toBe('payload-too-large');
    expect(publisher.calls).toEqual([]);
  });

  it('answers 415 when the body is not declared as JSON', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events', incoming(), { 'content-type': 'text/plain' }));

    expect(response.statusCode).toBe(415);
    expect(bodyOf(response)).toEqual({
      error: 'unsupported-media-type',
      message: 'Content-Type must be application/json (charset utf-8), not "text/plain"',
    });
    expect(publisher.calls).toEqual([]);
  });

  it('answers 415 when the Content-Type header is missing', async () => {
    const { publisher, route } = setup();

    const response = await route({
      method: 'POST',
      path: '/v1/events',
      headers: {},
      body: JSON.stringify(incoming()),
    });

    expect(response.statusCode).toBe(415);
    expect(publisher.calls).toEqual([]);
  });

  it('publishes every request when no idempotency store is configured, even with an Idempotency-Key', async () => {
    const { publisher, route } = setup();
    const request = post('/v1/events', incoming(), { 'idempotency-key': 'k-1' });

    await route(request);
    await route(request);

    expect(publisher.calls).toHaveLength(2);
  });
});

describe('POST /v1/events/batch', () => {
  it('accepts a batch with 202 and publishes it in one call, in order', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events/batch', { events: [incoming('a'), incoming('b')] }));

    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toEqual({ accepted: 2, eventIds: ids });
    expect(publisher.calls).toHaveLength(1);
    expect(publisher.published.map((e) => e.customerId)).toEqual(['a', 'b']);
  });

  it('rejects the whole batch when one event is invalid', async () => {
    const { publisher, route } = setup();

    const response = await route(
      post('/v1/events/batch', { events: [incoming('a'), { ...incoming('b'), payload: { email: 'x' } }] }),
    );

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).issues.map((i: { path: string }) => i.path)).toEqual([
      'events.1.payload.email',
      'events.1.payload.givenName',
      'events.1.payload.familyName',
    ]);
    expect(publisher.calls).toEqual([]);
  });

  it('answers 400 for an empty batch', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events/batch', { events: [] }));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).issues).toEqual([{ path: 'events', message: 'must contain at least 1 event' }]);
    expect(publisher.calls).toEqual([]);
  });

  it('answers 413 for a body over 256 KiB', async () => {
    const { publisher, route } = setup();
    const events = Array.from({ length: 5 }, (_, i) => ({
      ...incoming(`c${i}`),
      payload: { pad: 'x'.repeat(60_000) },
    }));

    const response = await route(post('/v1/events/batch', { events }));

    expect(JSON.stringify({ events }).length).toBeGreaterThan(MAX_BODY_BYTES);
    expect(response.statusCode).toBe(413);
    expect(bodyOf(response).message).toMatch(/limit is 262144/);
    expect(publisher.calls).toEqual([]);
  });
});

describe('publish failures', () => {
  it('answers 503 with the Retry-After of the backpressure signal', async () => {
    const { publisher, route } = setup();
    publisher.failNextWith(new BackpressureError(30, 10_000, 10_000));

    const response = await route(post('/v1/events', incoming()));

    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('30');
    expect(bodyOf(response)).toEqual({
      error: 'unavailable',
      message: 'Ingest is overloaded; retry after 30 s',
    });
  });

  it('answers 503 with Retry-After for a retriable publish failure', async () => {
    const { publisher, route } = setup();
    publisher.failNextWith(new PublishError('broker unavailable', true, { topic: TOPIC, events: 1 }));

    const response = await route(post('/v1/events', incoming()));

    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
  });

  it('answers 500 without internals for a fatal publish failure', async () => {
    const { publisher, route } = setup();
    publisher.failNextWith(
      new PublishError('TOPIC_AUTHORIZATION_FAILED on b-1.secret-host:9098', false, {
        topic: TOPIC,
        events: 1,
      }),
    );

    const response = await route(post('/v1/events', incoming()));

    expect(response.statusCode).toBe(500);
    expect(response.headers['retry-after']).toBeUndefined();
    expect(bodyOf(response)).toEqual({ error: 'internal', message: 'The events could not be accepted' });
  });

  it('answers 500 when the publisher breaks its contract with a TypeError', async () => {
    const { publisher, route } = setup();
    publisher.failNextWith(new TypeError('cannot read properties of undefined'));

    const response = await route(post('/v1/events', incoming()));

    expect(response.statusCode).toBe(500);
    expect(response.body).not.toMatch(/properties/);
  });
});

describe('router', () => {
  it('answers 404 for an unknown path and publishes nothing', async () => {
    const { publisher, route } = setup();

    const response = await route(post('/v2/events', incoming()));

    expect(response.statusCode).toBe(404);
    expect(bodyOf(response)).toEqual({ error: 'not-found', message: 'No route /v2/events' });
    expect(publisher.calls).toEqual([]);
  });

  it('answers 405 with Allow for another method on a known path', async () => {
    const { route } = setup();

    const response = await route({ method: 'GET', path: '/v1/events/batch', headers: {}, body: '' });

    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(bodyOf(response).error).toBe('method-not-allowed');
  });

  it('ignores a trailing slash', async () => {
    const { route } = setup();

    const response = await route(post('/v1/events/', incoming()));

    expect(response.statusCode).toBe(202);
  });

  it('serves a second version beside the first without changing it', async () => {
    const publisher = new RecordingPublisher();
    const v2: ApiRoute = {
      method: 'POST',
      path: '/v2/events',
      handle: async () => ({ statusCode: 202, headers: {}, body: '{"version":2}' }),
    };
    const api = createRouter([
      ...v1Routes(new IngestService({ publisher, topic: TOPIC, ...quietTelemetry('ingest') })),
      v2,
    ]);

    const v1Response = await callApi(api, post('/v1/events', incoming()));
    const v2Response = await callApi(api, post('/v2/events', incoming()));

    expect(v1Response.statusCode).toBe(202);
    expect(v2Response.body).toBe('{"version":2}');
    expect(publisher.calls).toHaveLength(1);
  });

  it('refuses two routes with the same method and path', () => {
    const handle = async () => ({ statusCode: 200, headers: {}, body: '' });

    expect(() =>
      createRouter([
        { method: 'POST', path: '/v1/events', handle },
        { method: 'post', path: '/v1/events/', handle },
      ]),
    ).toThrow(RangeError);
  });
});

describe('requestOf', () => {
  const event = (overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 => ({
    ...apiEvent({
      method: 'POST',
      path: '/v1/events',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
      body: '{"a":1}',
    }),
    ...overrides,
  });

  it('lower-cases header names and keeps the path of the $default stage', () => {
    const request = requestOf(event());

    expect(request).toMatchObject({
      method: 'POST',
      path: '/v1/events',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      body: '{"a":1}',
    });
  });

  it('decodes a base64 body', () => {
    const request = requestOf(
      event({ body: Buffer.from('{"é":1}').toString('base64'), isBase64Encoded: true }),
    );

    expect(request.body).toBe('{"é":1}');
  });

  it('strips a named stage from the path', () => {
    const base = event();
    const request = requestOf({
      ...base,
      rawPath: '/prod/v1/events/batch',
      requestContext: { ...base.requestContext, stage: 'prod' },
    });

    expect(request.path).toBe('/v1/events/batch');
  });

  it('reads a missing body as empty', () => {
    const { body: _none, ...withoutBody } = event();

    expect(requestOf(withoutBody).body).toBe('');
  });
});
