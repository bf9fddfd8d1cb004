export { decodeEvent, encodeEvent } from './decodeEvent.js';
export { EventError, type PoisonReason, PoisonRecordError } from './errors.js';
export {
  type CustomerEvent,
  customerIdSchema,
  type Envelope,
  EVENT_TYPES,
  type EventTypeKey,
  envelopeSchema,
  MAX_EVENT_BYTES,
  payloadSchemas,
} from './schemas.js';
