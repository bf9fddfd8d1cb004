import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  decodeUtf8,
  type Envelope,
  type EventTypeKey,
  envelopeSchema,
  MAX_EVENT_BYTES,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  payloadSchemas,
} from '../events/index.js';
import {
  type FieldIssue,
  PayloadTooLargeError,
  RequestValidationError,
  UnsupportedMediaTypeError,
} from './errors.js';

/** Largest request body accepted, in bytes of UTF-8. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Most events in one batch request. */
export const MAX_BATCH_EVENTS = 500;
/** Longest `Idempotency-Key` accepted; a UUID is 36. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** `single`: the body is one event. `batch`: the body is `{ "events": [...] }`. */
export type RequestShape = 'single' | 'batch';

export interface ParseOptions {
  /** Generates the `eventId` of events sent without one; UUID v4 unless told. */
  readonly newEventId?: () => string;
}

export interface ParsedBody {
  /** The validated events, normalized by their schemas, each with an `eventId`. */
  readonly envelopes: Envelope[];
  /** The body as the client sent it (parsed JSON): what an `Idempotency-Key` is bound to. */
  readonly json: unknown;
}

/** An event as a client sends it: the platform's envelope, with `eventId` optional. */
const incomingEventSchema = envelopeSchema.partial({ eventId: true });

const batchSchema = z.strictObject({
  events: z
    .array(z.unknown())
    .min(1, 'must contain at least 1 event')
    .max(MAX_BATCH_EVENTS, `must contain at most ${MAX_BATCH_EVENTS} events`),
});

const KNOWN_TYPES = Object.keys(payloadSchemas).join(', ');
const isKnownType = (key: string): key is EventTypeKey => Object.hasOwn(payloadSchemas, key);

const IDEMPOTENCY_KEY = new RegExp(
  `^[\\x21-\\x7E](?:[\\x20-\\x7E]{0,${MAX_IDEMPOTENCY_KEY_LENGTH - 2}}[\\x21-\\x7E])?$`,
);

const pathOf = (segments: ReadonlyArray<PropertyKey>): string =>
  segments.length === 0 ? '(body)' : segments.map(String).join('.');

/** Whether `input` has a value at `path`: tells "is required" apart from "has the wrong type". */
function isPresent(input: unknown, path: ReadonlyArray<PropertyKey>): boolean {
  let current: unknown = input;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || typeof segment === 'symbol') return false;
    if (!Object.hasOwn(current, segment)) return false;
    current = Reflect.get(current, segment);
  }
  return current !== undefined;
}

/** zod issues as field-level messages, one per field, with paths relative to the request body. */
function issuesOf(error: z.ZodError, input: unknown, prefix: ReadonlyArray<PropertyKey>): FieldIssue[] {
  return error.issues.flatMap((issue): FieldIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: pathOf([...prefix, ...issue.path, key]),
        message: 'is not allowed',
      }));
    }
    const message =
      issue.code === 'invalid_type' && !isPresent(input, issue.path) ? 'is required' : issue.message;
    return [{ path: pathOf([...prefix, ...issue.path]), message }];
  });
}

/**
 * Rejects bodies that are not declared as JSON.
 *
 * @throws {UnsupportedMediaTypeError} unless the media type is `application/json`, with no charset or utf-8.
 */
export function assertJsonContentType(contentType: string | undefined): void {
  const [mediaType = '', ...parameters] = (contentType ?? '')
    .split(';')
    .map((part) => part.trim().toLowerCase());
  const charsetOk = parameters.every((p) => !p.startsWith('charset=') || /^charset="?utf-8"?$/.test(p));
  if (mediaType !== 'application/json' || !charsetOk) throw new UnsupportedMediaTypeError(contentType);
}

/**
 * Validates an `Idempotency-Key` header value: 1–255 visible ASCII characters, no surrounding spaces.
 *
 * @throws {RequestValidationError} naming the header.
 */
export function assertIdempotencyKey(key: string): void {
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new RequestValidationError([
      {
        path: 'headers.idempotency-key',
        message: `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters without surrounding spaces`,
      },
    ]);
  }
}

/** The batch shape wraps events in `{ "events": [...] }`: two levels more than a single event. */
const BATCH_WRAPPER_DEPTH = 2;

/**
 * Parses and validates a request body into envelopes ready to publish. Checks, in order: body size, UTF-8,
 * JSON, nesting depth, the batch's shape, each event's size, each event's envelope and payload (against the
 * schema of its `type@version`, which also refuses what the shards cannot store), then duplicate event ids
 * (compared in their canonical lower-case form). Assigns an `eventId` to events sent without one. Nothing
 * is returned unless every event is valid: a batch is accepted whole or not at all.
 *
 * @param body - the body as text, or as bytes when they could not be decoded as UTF-8 upstream.
 * @throws {PayloadTooLargeError} when the body exceeds {@link MAX_BODY_BYTES} or an event exceeds
 *   `MAX_EVENT_BYTES` (measured as compact JSON, as it would be published).
 * @throws {RequestValidationError} for a body that is not UTF-8, not JSON or nested too deep, and listing
 *   every invalid field, unknown `type@version` or duplicate id.
 */
export function parseIngestBody(
  body: string | Uint8Array,
  shape: RequestShape,
  options: ParseOptions = {},
): ParsedBody {
  const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (bodyBytes > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(
      `The request body is ${bodyBytes} bytes; the limit is ${MAX_BODY_BYTES}`,
      MAX_BODY_BYTES,
    );
  }
  const text = typeof body === 'string' ? body : decodeUtf8(body);
  if (text === undefined) {
    throw new RequestValidationError([{ path: '(body)', message: 'is not valid UTF-8' }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : 'unparseable';
    throw new RequestValidationError([{ path: '(body)', message: `is not valid JSON: ${reason}` }], {
      cause: error,
    });
  }
  const maxDepth = MAX_JSON_DEPTH + (shape === 'batch' ? BATCH_WRAPPER_DEPTH : 0);
  if (nestsDeeperThan(json, maxDepth)) {
    throw new RequestValidationError([{ path: '(body)', message: `nests deeper than ${maxDepth} levels` }]);
  }

  let events: ReadonlyArray<{ readonly raw: unknown; readonly path: ReadonlyArray<PropertyKey> }>;
  if (shape === 'batch') {
    const batch = batchSchema.safeParse(json);
    if (!batch.success) throw new RequestValidationError(issuesOf(batch.error, json, []));
    events = batch.data.events.map((raw, i) => ({ raw, path: ['events', i] }));
  } else {
    events = [{ raw: json, path: [] }];
  }

  const oversized = events.flatMap(({ raw, path }) => {
    const bytes = Buffer.byteLength(JSON.stringify(raw), 'utf8');
    return bytes > MAX_EVENT_BYTES
      ? [{ path: pathOf(path), message: `is ${bytes} bytes; the limit per event is ${MAX_EVENT_BYTES}` }]
      : [];
  });
  if (oversized.length > 0) {
    throw new PayloadTooLargeError(
      `Events larger than ${MAX_EVENT_BYTES} bytes: ${oversized.map((o) => o.path).join(', ')}`,
      MAX_EVENT_BYTES,
      oversized,
    );
  }

  const issues: FieldIssue[] = [];
  const valid = events.flatMap(({ raw, path }) => {
    const envelope = validateEvent(raw, path, issues);
    return envelope === undefined ? [] : [{ envelope, path }];
  });
  const seen = new Map<string, string>();
  for (const { envelope, path } of valid) {
    if (envelope.eventId === undefined) continue;
    const first = seen.get(envelope.eventId);
    if (first === undefined) seen.set(envelope.eventId, pathOf(path));
    else issues.push({ path: pathOf([...path, 'eventId']), message: `duplicates ${first}.eventId` });
  }
  if (issues.length > 0) throw new RequestValidationError(issues);

  const newEventId = options.newEventId ?? randomUUID;
  return {
    envelopes: valid.map(({ envelope }) => ({ ...envelope, eventId: envelope.eventId ?? newEventId() })),
    json,
  };
}

type IncomingEvent = z.output<typeof incomingEventSchema>;

/** Validates one event; on failure appends its issues and returns undefined. */
function validateEvent(
  raw: unknown,
  path: ReadonlyArray<PropertyKey>,
  issues: FieldIssue[],
): IncomingEvent | undefined {
  const envelope = incomingEventSchema.safeParse(raw);
  if (!envelope.success) {
    issues.push(...issuesOf(envelope.error, raw, path));
    return undefined;
  }
  const { type, version, payload } = envelope.data;
  const typeKey = `${type}@${version}`;
  if (!isKnownType(typeKey)) {
    issues.push({
      path: pathOf([...path, 'type']),
      message: `unknown event type ${typeKey}; known: ${KNOWN_TYPES}`,
    });
    return undefined;
  }
  const parsedPayload = payloadSchemas[typeKey].safeParse(payload);
  if (!parsedPayload.success) {
    issues.push(...issuesOf(parsedPayload.error, payload, [...path, 'payload']));
    return undefined;
  }
  return { ...envelope.data, payload: parsedPayload.data };
}
