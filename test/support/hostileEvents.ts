import fc from 'fast-check';
import type { Envelope } from '../../lambdas/shared/events/index.js';

/*
 * Generators of hostile customer events for property-based tests, with an oracle written apart from the
 * event schema: what a record must come to, judged from how it was generated.
 */

/** Free text as producers and attackers send it: any Unicode, raw UTF-16 code units, known troublemakers. */
export const hostileText = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 8 }),
  fc.constantFrom('Nul\u0000Byte', 'a\ud800b', '\udc00', '\ud83d', '  ', 'Ada 👩‍💻', 'Zoë', 'x'.repeat(101)),
);

export interface GeneratedTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly millis: number | undefined;
  /** Minutes east of UTC, or undefined for `Z`. */
  readonly offsetMinutes: number | undefined;
}

/** Well-formed ISO 8601 times over the whole four-digit range, the edges of it most of all. */
export const hostileTime: fc.Arbitrary<GeneratedTime> = fc.record({
  year: fc.oneof(
    fc.constantFrom(0, 1, 9999),
    fc.integer({ min: 0, max: 9999 }),
    fc.integer({ min: 1990, max: 2030 }),
  ),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.oneof(fc.constantFrom(1, 28), fc.integer({ min: 1, max: 28 })),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  millis: fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }),
  offsetMinutes: fc.option(fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), { nil: undefined }),
});

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export function isoOf(t: GeneratedTime): string {
  const fraction = t.millis === undefined ? '' : `.${pad(t.millis, 3)}`;
  let zone = 'Z';
  if (t.offsetMinutes !== undefined) {
    const abs = Math.abs(t.offsetMinutes);
    zone = `${t.offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  }
  return `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)}T${pad(t.hour)}:${pad(t.minute)}:00${fraction}${zone}`;
}

/** Whether the instant, in UTC, has a four-digit year from 0001 to 9999 (computed without parsing). */
export function timeIsStorable(t: GeneratedTime): boolean {
  const utc = new Date(0);
  utc.setUTCFullYear(t.year, t.month - 1, t.day);
  utc.setUTCHours(t.hour, t.minute - (t.offsetMinutes ?? 0), 0, t.millis ?? 0);
  const year = utc.getUTCFullYear();
  return year >= 1 && year <= 9999;
}

/** Whether a free-text field of at most `max` characters (after trimming) can be stored, as an oracle. */
export function textIsStorable(value: string, max: number): boolean {
  const trimmed = value.trim();
  if (trimmed.length < 1 || trimmed.length > max) return false;
  for (let i = 0; i < trimmed.length; i += 1) {
    const unit = trimmed.charCodeAt(i);
    if (unit === 0) return false;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = trimmed.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i += 1;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}

export type GeneratedType = 'registered' | 'profile' | 'address' | 'email' | 'erased';

export interface GeneratedEvent {
  /** Events sharing a slot share an event id. */
  readonly slot: number;
  /** Which letters of the id are upper case. */
  readonly idCase: 'lower' | 'upper' | 'mixed';
  readonly type: GeneratedType;
  readonly text: string;
  readonly otherText: string;
  readonly time: GeneratedTime;
  /** Bytes that are not UTF-8 inside the text, once encoded. */
  readonly brokenUtf8: boolean;
  /** A redelivery of the record generated `copyOf` places earlier, instead of a new one. */
  readonly copyOf: number | undefined;
}

export const generatedEvent: fc.Arbitrary<GeneratedEvent> = fc.record({
  slot: fc.integer({ min: 0, max: 9 }),
  idCase: fc.constantFrom('lower', 'upper', 'mixed'),
  type: fc.constantFrom('registered', 'profile', 'address', 'email', 'erased'),
  text: fc.oneof(hostileText, fc.constantFrom('Ada', 'Grace', 'Zoë')),
  otherText: fc.oneof(hostileText, fc.constantFrom('Lovelace', 'Leeds')),
  time: fc.oneof(
    hostileTime,
    fc.constant<GeneratedTime>({
      year: 2026,
      month: 1,
      day: 1,
      hour: 0,
      minute: 0,
      millis: 0,
      offsetMinutes: 0,
    }),
  ),
  brokenUtf8: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  copyOf: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined, freq: 4 }),
});

const caseOf = (id: string, idCase: GeneratedEvent['idCase']) =>
  idCase === 'lower'
    ? id
    : idCase === 'upper'
      ? id.toUpperCase()
      : [...id].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');

/** The id of a slot in one property run: fresh per run, so runs (and shrinking) never share ids. */
export const eventIdOf = (run: number, slot: number): string =>
  `fa${pad(run, 6)}-beef-4abc-8def-${pad(slot, 12)}`;

/** The envelope of a generated event for customer `customerId`, and whether every field is storable. */
export function envelopeOf(
  g: GeneratedEvent,
  run: number,
  customerId: string,
): { readonly envelope: Envelope; readonly storable: boolean } {
  const base = {
    eventId: caseOf(eventIdOf(run, g.slot), g.idCase),
    version: 1,
    customerId,
    occurredAt: isoOf(g.time),
  };
  const timeOk = timeIsStorable(g.time);
  switch (g.type) {
    case 'registered':
      return {
        envelope: {
          ...base,
          type: 'customer.registered',
          payload: { email: `${customerId}@example.com`, givenName: g.text, familyName: g.otherText },
        },
        storable: timeOk && textIsStorable(g.text, 100) && textIsStorable(g.otherText, 100),
      };
    case 'profile':
      return {
        envelope: { ...base, type: 'customer.profile-changed', payload: { givenName: g.text } },
        storable: timeOk && textIsStorable(g.text, 100),
      };
    case 'address':
      return {
        envelope: {
          ...base,
          type: 'customer.address-changed',
          payload: { address: { line1: g.text, city: g.otherText, postalCode: 'LS1 1AA', country: 'GB' } },
        },
        storable: timeOk && textIsStorable(g.text, 200) && textIsStorable(g.otherText, 100),
      };
    case 'email':
      return {
        envelope: {
          ...base,
          type: 'customer.email-changed',
          payload: { email: `${customerId}.new@example.com` },
        },
        storable: timeOk,
      };
    case 'erased':
      return {
        envelope: { ...base, type: 'customer.erased', payload: { reason: 'legal' } },
        storable: timeOk,
      };
  }
}

/** The record value: the envelope as UTF-8 JSON, with two bytes that are not UTF-8 in its text if asked. */
export function recordValueOf(envelope: Envelope, brokenUtf8: boolean): Buffer {
  const json = Buffer.from(JSON.stringify(envelope), 'utf8');
  if (!brokenUtf8) return json;
  const at = json.indexOf('"payload":{"');
  if (at < 0) return json;
  const cut = at + '"payload":{"'.length;
  return Buffer.concat([json.subarray(0, cut), Buffer.from([0xff, 0xc0]), json.subarray(cut)]);
}
