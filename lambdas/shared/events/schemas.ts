import { z } from 'zod';
import { EVENT_TIME_RANGE_MESSAGE, isStorableEventTime, unstorableTextReason } from './storable.js';

/** Largest encoded record value the consumer accepts; bigger values are poison, not retried. */
export const MAX_EVENT_BYTES = 64 * 1024;

/** Refuses text PostgreSQL cannot store (see `unstorableTextReason`), naming why. */
const storable = <T extends z.ZodString>(schema: T): T =>
  schema.superRefine((value, ctx) => {
    const reason = unstorableTextReason(value);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
  });

const trimmed = (max: number) => storable(z.string().trim().min(1).max(max));

/**
 * Event ids are UUIDs in canonical (lower-case) form from the edge on: PostgreSQL's `uuid` compares them
 * without case, every in-memory comparison compares text, and both must agree on what a duplicate is.
 */
export const eventIdSchema = z.uuid().transform((id) => id.toLowerCase());

export const customerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');

export const emailSchema = z
  .email()
  .max(254)
  .transform((value) => value.toLowerCase());
/** E.164 phone numbers only, so the global index has one canonical key per number. */
export const phoneSchema = z
  .string()
  .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +447700900123');

export const addressSchema = z.strictObject({
  line1: trimmed(200),
  line2: trimmed(200).optional(),
  city: trimmed(100),
  postalCode: trimmed(20),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code'),
});

const registeredV1 = z.strictObject({
  email: emailSchema,
  phone: phoneSchema.optional(),
  givenName: trimmed(100),
  familyName: trimmed(100),
  address: addressSchema.optional(),
});

const profileChangedV1 = z
  .strictObject({ givenName: trimmed(100).optional(), familyName: trimmed(100).optional() })
  .refine(
    (p) => p.givenName !== undefined || p.familyName !== undefined,
    'must change givenName or familyName',
  );

const emailChangedV1 = z.strictObject({ email: emailSchema });
const phoneChangedV1 = z.strictObject({ phone: phoneSchema.nullable() });
const addressChangedV1 = z.strictObject({ address: addressSchema });
const erasedV1 = z.strictObject({ reason: z.enum(['customer-request', 'retention-expired', 'legal']) });

/**
 * Every event type and version the platform understands, keyed `type@version`. Adding a version means
 * adding an entry; removing one is a breaking change for producers.
 */
export const payloadSchemas = {
  'customer.registered@1': registeredV1,
  'customer.profile-changed@1': profileChangedV1,
  'customer.email-changed@1': emailChangedV1,
  'customer.phone-changed@1': phoneChangedV1,
  'customer.address-changed@1': addressChangedV1,
  'customer.erased@1': erasedV1,
} as const;

export type EventTypeKey = keyof typeof payloadSchemas;
export const EVENT_TYPES = [...new Set(Object.keys(payloadSchemas).map((k) => k.split('@')[0] as string))];

/** The versioned envelope every customer event travels in. */
export const envelopeSchema = z.strictObject({
  eventId: eventIdSchema,
  type: storable(z.string().min(1).max(100)),
  version: z.number().int().positive(),
  customerId: customerIdSchema,
  occurredAt: z.iso
    .datetime({ offset: true, abort: true })
    .refine(isStorableEventTime, EVENT_TIME_RANGE_MESSAGE),
  payload: z.record(z.string(), z.unknown()),
  source: storable(z.string().max(100)).optional(),
  traceId: storable(z.string().max(200)).optional(),
});

type PayloadOf<K extends EventTypeKey> = z.output<(typeof payloadSchemas)[K]>;

type EventOf<K extends EventTypeKey> = K extends `${infer T}@${infer V extends number}`
  ? {
      readonly eventId: string;
      readonly type: T;
      readonly version: V;
      readonly customerId: string;
      /** Epoch milliseconds; ordering of one customer's facts uses this, not arrival order. */
      readonly occurredAt: number;
      readonly payload: PayloadOf<K>;
      readonly source?: string;
      readonly traceId?: string;
    }
  : never;

/** A validated customer event, discriminated by `type`. */
export type CustomerEvent = { [K in EventTypeKey]: EventOf<K> }[EventTypeKey];
export type Envelope = z.input<typeof envelopeSchema>;
