import { PoisonRecordError } from './errors.js';
import {
  type CustomerEvent,
  type EventTypeKey,
  envelopeSchema,
  MAX_EVENT_BYTES,
  payloadSchemas,
} from './schemas.js';
import { decodeUtf8, MAX_JSON_DEPTH, nestsDeeperThan } from './storable.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const isKnownType = (key: string): key is EventTypeKey => Object.hasOwn(payloadSchemas, key);

const describe = (
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix: string,
) =>
  issues
    .map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`)
    .join('; ');

/**
 * Decodes the base64 `value` of a Kafka record into a validated customer event.
 *
 * @param value - the record value as delivered by the event source (base64), possibly missing.
 * @param key - the record key (base64) when present; it must equal the event's customerId.
 * @throws {PoisonRecordError} when the record can never be processed: the reason says why.
 */
export function decodeEvent(value: string | undefined | null, key?: string | null): CustomerEvent {
  if (value === undefined || value === null || value === '') {
    throw new PoisonRecordError('missing-value', 'record has no value');
  }
  if (value.length > Math.ceil((MAX_EVENT_BYTES * 4) / 3) + 4) {
    throw new PoisonRecordError('oversized', `value is larger than ${MAX_EVENT_BYTES} bytes`);
  }
  if (!BASE64.test(value)) throw new PoisonRecordError('bad-base64', 'value is not valid base64');
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length > MAX_EVENT_BYTES) {
    throw new PoisonRecordError('oversized', `value is ${bytes.length} bytes, limit ${MAX_EVENT_BYTES}`);
  }

  const text = decodeUtf8(bytes);
  if (text === undefined) throw new PoisonRecordError('bad-utf8', 'value is not valid UTF-8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error: unknown) {
    throw new PoisonRecordError('bad-json', error instanceof Error ? error.message : 'unparseable JSON', {
      cause: error,
    });
  }
  if (nestsDeeperThan(json, MAX_JSON_DEPTH)) {
    throw new PoisonRecordError('schema-violation', `(root): nests deeper than ${MAX_JSON_DEPTH} levels`);
  }

  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) {
    throw new PoisonRecordError('schema-violation', describe(envelope.error.issues, ''));
  }
  const { type, version, payload, occurredAt, ...rest } = envelope.data;
  const typeKey = `${type}@${version}`;
  if (!isKnownType(typeKey)) {
    throw new PoisonRecordError('unknown-type', `no schema for ${type} version ${version}`);
  }
  const parsedPayload = payloadSchemas[typeKey].safeParse(payload);
  if (!parsedPayload.success) {
    throw new PoisonRecordError('schema-violation', describe(parsedPayload.error.issues, 'payload'));
  }
  if (key !== undefined && key !== null && key !== '') {
    const decodedKey = decodeUtf8(Buffer.from(key, 'base64'));
    if (decodedKey === undefined) throw new PoisonRecordError('bad-utf8', 'record key is not valid UTF-8');
    if (decodedKey !== rest.customerId) {
      throw new PoisonRecordError(
        'key-mismatch',
        `record key ${decodedKey} is not customerId ${rest.customerId}`,
      );
    }
  }
  return {
    ...rest,
    type,
    version,
    occurredAt: Date.parse(occurredAt),
    payload: parsedPayload.data,
  } as CustomerEvent;
}

/** Encodes an event as producers do: JSON, UTF-8. Used by the ingest path, replay and fixtures. */
export function encodeEvent(envelope: unknown): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}
