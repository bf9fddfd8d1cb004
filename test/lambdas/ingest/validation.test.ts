import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { MAX_EVENT_BYTES } from '../../../lambdas/shared/events/index.js';
import {
  PayloadTooLargeError,
  RequestValidationError,
  UnsupportedMediaTypeError,
} from '../../../lambdas/shared/ingest/errors.js';
import { IngestService } from '../../../lambdas/shared/ingest/IngestService.js';
import {
  assertIdempotencyKey,
  assertJsonContentType,
  MAX_BATCH_EVENTS,
  MAX_BODY_BYTES,
  parseIngestBody,
  type RequestShape,
} from '../../../lambdas/shared/ingest/validation.js';
import { quietTelemetry } from '../../support/emf.js';
import { registered } from '../../support/events.js';
import { RecordingPublisher } from './recordingPublisher.js';

const FIXED_ID = '6f1c1d1e-8a4b-4c3d-9e2f-0a1b2c3d4e5f';

/** A valid `customer.registered@1` event without `eventId`, as a client may send it. */
const incoming = (customerId = 'c-1'): Record<string, unknown> => {
  const { eventId: _ignored, ...rest } = registered(customerId, 0);
  return rest;
};

const issuesOf = (action: () => unknown) => {
  try {
    action();
  } catch (error: unknown) {
    if (error instanceof RequestValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a RequestValidationError');
};

describe('parseIngestBody', () => {
  it('assigns an eventId from the generator to an event sent without one', () => {
    const { envelopes } = parseIngestBody(JSON.stringify(incoming()), 'single', {
      newEventId: () => FIXED_ID,
    });

    expect(envelopes).toHaveLength(1);
    expect(envelopes[0]?.eventId).toBe(FIXED_ID);
  });

  it('assigns a UUID v4 by default', () => {
    const { envelopes } = parseIngestBody(JSON.stringify(incoming()), 'single');

    expect(envelopes[0]?.eventId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("keeps the client's eventId", () => {
    const event = registered('c-2', 0);

    const { envelopes } = parseIngestBody(JSON.stringify(event), 'single', { newEventId: () => FIXED_ID });

    expect(envelopes[0]?.eventId).toBe(event.eventId);
  });

  it('normalizes the payload with its schema (e-mail in lower case)', () => {
    const event = {
      ...incoming(),
      payload: { email: 'Ada@Example.COM', givenName: ' Ada ', familyName: 'L' },
    };

    const { envelopes } = parseIngestBody(JSON.stringify(event), 'single');

    expect(envelopes[0]?.payload).toEqual({ email: 'ada@example.com', givenName: 'Ada', familyName: 'L' });
  });

  it('returns the events of a batch in order and the body as sent', () => {
    const body = { events: [incoming('a'), incoming('b'), incoming('c')] };
    let n = 0;

    const parsed = parseIngestBody(JSON.stringify(body), 'batch', {
      newEventId: () => `${FIXED_ID.slice(0, -1)}${n++}`,
    });

    expect(parsed.envelopes.map((e) => e.customerId)).toEqual(['a', 'b', 'c']);
    expect(parsed.envelopes.map((e) => e.eventId.slice(-1))).toEqual(['0', '1', '2']);
    expect(parsed.json).toEqual(body);
  });

  it('rejects malformed JSON, naming the body', () => {
    expect(issuesOf(() => parseIngestBody('{"type": ', 'single'))).toEqual([
      { path: '(body)', message: expect.stringMatching(/^is not valid JSON: /) },
    ]);
  });

  it('reports a missing occurredAt as required', () => {
    const { occurredAt: _missing, ...event } = incoming();

    expect(issuesOf(() => parseIngestBody(JSON.stringify(event), 'single'))).toEqual([
      { path: 'occurredAt', message: 'is required' },
    ]);
  });

  it('reports each extra field as not allowed, in the envelope and in the payload', () => {
    const event = { ...incoming(), priority: 'high', payload: { ...(incoming().payload as object), age: 3 } };

    expect(issuesOf(() => parseIngestBody(JSON.stringify(event), 'single'))).toEqual([
      { path: 'priority', message: 'is not allowed' },
    ]);
    const payloadOnly = { ...incoming(), payload: { ...(incoming().payload as object), age: 3 } };
    expect(issuesOf(() => parseIngestBody(JSON.stringify(payloadOnly), 'single'))).toEqual([
      { path: 'payload.age', message: 'is not allowed' },
    ]);
  });

  it('reports wrong types with the field path', () => {
    const event = { ...incoming(), version: '1', customerId: 42 };

    const issues = issuesOf(() => parseIngestBody(JSON.stringify(event), 'single'));

    expect(issues.map((i) => i.path)).toEqual(['version', 'customerId']);
    expect(issues[0]?.message).toMatch(/expected number/);
  });

  it('reports an invalid payload field with its path inside the batch', () => {
    const bad = { ...incoming('b'), payload: { email: 'not-an-email', givenName: 'B', familyName: 'B' } };

    expect(
      issuesOf(() => parseIngestBody(JSON.stringify({ events: [incoming('a'), bad] }), 'batch')),
    ).toEqual([{ path: 'events.1.payload.email', message: expect.any(String) }]);
  });

  it('names an unknown type@version', () => {
    const event = { ...incoming(), version: 7 };

    const issues = issuesOf(() => parseIngestBody(JSON.stringify(event), 'single'));

    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('type');
    expect(issues[0]?.message).toMatch(
      /^unknown event type customer\.registered@7; known: .*customer\.registered@1/,
    );
  });

  it('rejects a client eventId that is not a UUID', () => {
    const event = { ...incoming(), eventId: 'evt-1' };

    expect(issuesOf(() => parseIngestBody(JSON.stringify(event), 'single')).map((i) => i.path)).toEqual([
      'eventId',
    ]);
  });

  it('rejects the same eventId twice in one batch', () => {
    const event = registered('a', 0);

    expect(issuesOf(() => parseIngestBody(JSON.stringify({ events: [event, event] }), 'batch'))).toEqual([
      { path: 'events.1.eventId', message: 'duplicates events.0.eventId' },
    ]);
  });

  it('lists the issues of every invalid event of a batch', () => {
    const body = {
      events: [{ ...incoming('a'), version: 9 }, incoming('b'), { ...incoming('c'), occurredAt: 'soon' }],
    };

    const issues = issuesOf(() => parseIngestBody(JSON.stringify(body), 'batch'));

    expect(issues.map((i) => i.path)).toEqual(['events.0.type', 'events.2.occurredAt']);
  });

  it.each([
    ['an empty batch', { events: [] }, 'events', /at least 1 event/],
    [
      'a batch over the limit',
      { events: Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => ({})) },
      'events',
      /at most 500/,
    ],
    ['a batch without events', { items: [] }, 'events', /is required/],
    ['a batch that is an array', [incoming()], '(body)', /expected object/],
  ])('rejects %s', (_name, body, path, message) => {
    const issues = issuesOf(() => parseIngestBody(JSON.stringify(body), 'batch'));

    expect(issues[0]?.path).toBe(path);
    expect(issues[0]?.message).toMatch(message);
  });

  it('rejects a body over 256 KiB before parsing it', () => {
    const body = `{"pad":"${'x'.repeat(MAX_BODY_BYTES)}"}`;

    expect(() => parseIngestBody(body, 'batch')).toThrow(PayloadTooLargeError);
    expect(() => parseIngestBody(body, 'batch')).toThrow(/body is \d+ bytes; the limit is 262144/);
  });

  it('measures the body in UTF-8 bytes, not characters', () => {
    const body = `"${'é'.repeat(MAX_BODY_BYTES / 2)}"`;

    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect(() => parseIngestBody(body, 'single')).toThrow(PayloadTooLargeError);
  });

  it('rejects an event over MAX_EVENT_BYTES with 413, naming it in a batch', () => {
    const big = { ...incoming('big'), payload: { pad: 'x'.repeat(MAX_EVENT_BYTES) } };

    let caught: unknown;
    try {
      parseIngestBody(JSON.stringify({ events: [incoming('a'), big] }), 'batch');
    } catch (error: unknown) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(PayloadTooLargeError);
    expect(caught).toMatchObject({ status: 413, issues: [{ path: 'events.1' }] });
    expect(() => parseIngestBody(JSON.stringify(big), 'single')).toThrow(PayloadTooLargeError);
  });
});

describe('assertJsonContentType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"'])(
    'accepts %s',
    (contentType) => {
      expect(() => assertJsonContentType(contentType)).not.toThrow();
    },
  );

  it.each([
    undefined,
    '',
    'text/plain',
    'application/x-www-form-urlencoded',
    'application/json; charset=latin1',
  ])('rejects %s with 415', (contentType) => {
    expect(() => assertJsonContentType(contentType)).toThrow(UnsupportedMediaTypeError);
  });
});

describe('assertIdempotencyKey', () => {
  it.each(['5b0e7c1a-1f0e-4d5e-9a51-2c1f0e4d5e9a', 'order 42/retry', 'k'])('accepts %s', (key) => {
    expect(() => assertIdempotencyKey(key)).not.toThrow();
  });

  it.each(['', ' padded', 'tab\tinside', 'ünïcode', 'x'.repeat(256)])('rejects %j', (key) => {
    expect(issuesOf(() => assertIdempotencyKey(key))).toEqual([
      { path: 'headers.idempotency-key', message: expect.stringMatching(/visible ASCII/) },
    ]);
  });
});

describe('IngestService rejects bad input and publishes nothing', () => {
  const cases: ReadonlyArray<{
    readonly name: string;
    readonly shape: RequestShape;
    readonly body: string;
    readonly contentType?: string;
    readonly idempotencyKey?: string;
    readonly status: number;
    readonly error: string;
    readonly message: RegExp;
  }> = [
    {
      name: 'malformed JSON',
      shape: 'single',
      body: '{',
      status: 400,
      error: 'validation',
      message: /1 invalid field/,
    },
    {
      name: 'a missing field',
      shape: 'single',
      body: JSON.stringify({ ...incoming(), customerId: undefined }),
      status: 400,
      error: 'validation',
      message: /invalid field/,
    },
    {
      name: 'an unknown version',
      shape: 'batch',
      body: JSON.stringify({ events: [{ ...incoming(), version: 2 }] }),
      status: 400,
      error: 'validation',
      message: /invalid field/,
    },
    {
      name: 'an empty batch',
      shape: 'batch',
      body: '{"events":[]}',
      status: 400,
      error: 'validation',
      message: /invalid/,
    },
    {
      name: 'a body over the limit',
      shape: 'batch',
      body: ' '.repeat(MAX_BODY_BYTES + 1),
      status: 413,
      error: 'payload-too-large',
      message: /limit is 262144/,
    },
    {
      name: 'a wrong content type',
      shape: 'single',
      body: JSON.stringify(incoming()),
      contentType: 'text/plain',
      status: 415,
      error: 'unsupported-media-type',
      message: /must be application\/json/,
    },
    {
      name: 'an invalid Idempotency-Key',
      shape: 'single',
      body: JSON.stringify(incoming()),
      idempotencyKey: ' ',
      status: 400,
      error: 'validation',
      message: /1 invalid field/,
    },
  ];

  it.each(cases)('answers $status for $name', async (c) => {
    const publisher = new RecordingPublisher();
    const service = new IngestService({
      publisher,
      topic: 'customer-events.v1',
      ...quietTelemetry('ingest'),
    });

    const response = await service.accept({
      shape: c.shape,
      body: c.body,
      contentType: c.contentType ?? 'application/json',
      idempotencyKey: c.idempotencyKey,
    });

    expect(response.status).toBe(c.status);
    expect(response.headers['content-type']).toBe('application/json');
    const body = JSON.parse(response.body);
    expect(body.error).toBe(c.error);
    expect(body.message).toMatch(c.message);
    expect(publisher.calls).toEqual([]);
  });
});
