import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { createRouter, v1Routes } from '../../../lambdas/ingest/routes.js';
import { IngestService } from '../../../lambdas/shared/ingest/IngestService.js';
import { quietTelemetry } from '../../support/emf.js';
import { registered } from '../../support/events.js';
import { type ApiCall, callApi, resolveEvent } from '../../support/httpApi.js';
import { RecordingPublisher } from './recordingPublisher.js';

const TOPIC = 'customer-events.v1';
const ID = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';

function setup() {
  const publisher = new RecordingPublisher();
  const service = new IngestService({ publisher, topic: TOPIC, ...quietTelemetry('ingest') });
  const api = createRouter(v1Routes(service));
  return { publisher, api, route: (call: ApiCall) => callApi(api, call) };
}

const post = (path: string, body: string): ApiCall => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json' },
  body,
});

const bodyOf = (response: { body: string }) => JSON.parse(response.body);

/** A registration whose given name is `givenName`, serialized as a client would send it. */
const withGivenName = (givenName: string) => {
  const event = registered('c-hostile', 0);
  return JSON.stringify({ ...event, payload: { ...event.payload, givenName } });
};

/** An HTTP API event whose body API Gateway passed as base64 (bytes that are not valid UTF-8). */
function gatewayEvent(body: Buffer): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /v1/events',
    rawPath: '/v1/events',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: '111111111111',
      apiId: 'localapi',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: 'POST',
        path: '/v1/events',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: '',
      },
      requestId: 'r-1',
      routeKey: 'POST /v1/events',
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

describe('ingest refuses what the consumer cannot store', () => {
  it.each([
    ['a NUL character', withGivenName('Nul\u0000Byte'), 'payload.givenName'],
    ['a lone surrogate', withGivenName('a\ud800b'), 'payload.givenName'],
    ['a lone low surrogate', withGivenName('\udc00tail'), 'payload.givenName'],
    [
      'an occurredAt in year 0',
      JSON.stringify({ ...registered('c-year0', 0), occurredAt: '0000-06-30T12:00:00Z' }),
      'occurredAt',
    ],
    [
      'an occurredAt that is year 0 in UTC',
      JSON.stringify({ ...registered('c-year0', 0), occurredAt: '0001-01-01T00:00:00+01:00' }),
      'occurredAt',
    ],
    [
      'an occurredAt past year 9999 in UTC',
      JSON.stringify({ ...registered('c-year10k', 0), occurredAt: '9999-12-31T23:30:00-01:00' }),
      'occurredAt',
    ],
  ])('answers 400 naming the field for %s', async (_case, body, path) => {
    const { publisher, route } = setup();

    const response = await route(post('/v1/events', body));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).issues).toEqual([{ path, message: expect.any(String) }]);
    expect(publisher.published).toEqual([]);
  });

  it('answers 400 for one batch holding the same event id in two letter cases', async () => {
    const { publisher, route } = setup();
    const lower = { ...registered('c-case-1', 0), eventId: ID };
    const upper = { ...registered('c-case-2', 0), eventId: ID.toUpperCase() };

    const response = await route(post('/v1/events/batch', JSON.stringify({ events: [lower, upper] })));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).issues).toEqual([
      { path: 'events.1.eventId', message: 'duplicates events.0.eventId' },
    ]);
    expect(publisher.published).toEqual([]);
  });

  it('publishes an upper-case event id in its canonical lower-case form', async () => {
    const { publisher, route } = setup();

    const response = await route(
      post('/v1/events', JSON.stringify({ ...registered('c-upper', 0), eventId: ID.toUpperCase() })),
    );

    expect(response.statusCode).toBe(202);
    expect(bodyOf(response).eventIds).toEqual([ID]);
    expect(publisher.published.map((e) => e.eventId)).toEqual([ID]);
  });

  it('answers 400 instead of replacing bytes that are not UTF-8 with U+FFFD', async () => {
    const { publisher, api } = setup();
    const [before, after] = withGivenName('BAD').split('BAD') as [string, string];
    const bytes = Buffer.concat([Buffer.from(before), Buffer.from([0xff, 0xfe]), Buffer.from(after)]);

    const response = await resolveEvent(api, gatewayEvent(bytes));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({
      error: 'validation',
      issues: [{ path: '(body)', message: expect.stringMatching(/UTF-8/) }],
    });
    expect(publisher.published).toEqual([]);
  });

  it('answers 400 with a JSON message for a body nested 10,000 levels deep', async () => {
    const { publisher, route } = setup();
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const event = registered('c-deep', 0);
    const body = JSON.stringify({ ...event, payload: { ...event.payload, givenName: 'x' } }).replace(
      '"x"',
      deep,
    );

    const response = await route(post('/v1/events', body));

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'validation', message: expect.any(String) });
    expect(publisher.published).toEqual([]);
  });
});
