export { decodeEvent, encodeEvent } from './decodeEvent.js';
export { eventDigest } from './digest.js';
export { EventError, type PoisonReason, PoisonRecordError } from './errors.js';
export {
  type CustomerEvent,
  customerIdSchema,
  type Envelope,
  EVENT_TYPES,
  type EventTypeKey,
  envelopeSchema,
  eventIdSchema,
  MAX_EVENT_BYTES,
  payloadSchemas,
} from './schemas.js';
export {
  decodeUtf8,
  EARLIEST_EVENT_TIME,
  LATEST_EVENT_TIME,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  unstorableTextReason,
} from './storable.js';
