import type { Envelope } from '../../lambdas/shared/events/index.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same traffic on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uuidFrom = (next: () => number): string => {
  const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export interface TrafficOptions {
  readonly events: number;
  readonly customers: number;
  readonly seed?: number;
  /** Share of events that erase a customer (default 0.01). */
  readonly erasureRate?: number;
  /** Prefix of customer ids, so several runs can share shards without colliding. */
  readonly customerPrefix?: string;
}

const EPOCH = Date.UTC(2026, 0, 1);

/**
 * Realistic customer traffic: every customer registers first, then changes email, phone, name or
 * address, occasionally erases. Event times strictly increase per customer (one second apart at least),
 * so the expected final state of each customer is simply the last value of each attribute.
 */
export function generateTraffic(options: TrafficOptions): Envelope[] {
  const next = random(options.seed ?? 42);
  const prefix = options.customerPrefix ?? 'customer';
  // Phone numbers carry a salt of the prefix so traffic of different prefixes rarely shares a number.
  const salt = String([...prefix].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 1000, 7)).padStart(3, '0');
  const clock = new Map<string, number>();
  const envelopes: Envelope[] = [];
  for (let i = 0; i < options.events; i++) {
    const n = i < options.customers ? i : Math.floor(next() * options.customers);
    const customerId = `${prefix}-${n}`;
    const at = (clock.get(customerId) ?? EPOCH + n * 1_000) + 1_000 + Math.floor(next() * 60_000);
    clock.set(customerId, at);
    const base = { eventId: uuidFrom(next), version: 1, customerId, occurredAt: new Date(at).toISOString() };
    const roll = next();
    if (i < options.customers) {
      envelopes.push({
        ...base,
        type: 'customer.registered',
        payload: {
          email: `${customerId}@example.com`,
          givenName: 'Given',
          familyName: `Family${n}`,
          ...(n % 2 === 0 ? { phone: `+447${salt}${String(n).padStart(6, '0').slice(-6)}` } : {}),
        },
      });
    } else if (roll < (options.erasureRate ?? 0.01)) {
      envelopes.push({ ...base, type: 'customer.erased', payload: { reason: 'customer-request' } });
    } else if (roll < 0.4) {
      envelopes.push({
        ...base,
        type: 'customer.email-changed',
        payload: { email: `${customerId}.${i}@example.com` },
      });
    } else if (roll < 0.6) {
      envelopes.push({
        ...base,
        type: 'customer.phone-changed',
        payload: { phone: `+448${salt}${String(i).padStart(7, '0').slice(-7)}` },
      });
    } else if (roll < 0.8) {
      envelopes.push({ ...base, type: 'customer.profile-changed', payload: { givenName: `Given${i}` } });
    } else {
      envelopes.push({
        ...base,
        type: 'customer.address-changed',
        payload: {
          address: { line1: `${i} High Street`, city: 'Leeds', postalCode: 'LS1 1AA', country: 'GB' },
        },
      });
    }
  }
  return envelopes;
}
