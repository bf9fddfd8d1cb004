import type { CustomerEvent } from '../events/index.js';

/** The attributes of a customer, each an independent last-writer-wins register keyed by event time. */
export const ATTRIBUTES = ['email', 'phone', 'givenName', 'familyName', 'address'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export interface Address {
  readonly line1: string;
  readonly line2?: string | undefined;
  readonly city: string;
  readonly postalCode: string;
  readonly country: string;
}

export interface AttributeValues {
  email: string | null;
  phone: string | null;
  givenName: string | null;
  familyName: string | null;
  address: Address | null;
}

/** A register: the value and the event time (epoch ms) of the fact that set it; null time = never set. */
export interface Register<V> {
  readonly value: V;
  readonly at: number | null;
}

export type CustomerAttributes = { [A in Attribute]: Register<AttributeValues[A]> };

/** The stored state of one customer that the consumer needs to merge new facts. */
export interface CustomerState {
  readonly customerId: string;
  readonly attributes: CustomerAttributes;
  readonly registeredAt: number | null;
  readonly erasedAt: number | null;
}

export const emptyCustomer = (customerId: string): CustomerState => ({
  customerId,
  attributes: {
    email: { value: null, at: null },
    phone: { value: null, at: null },
    givenName: { value: null, at: null },
    familyName: { value: null, at: null },
    address: { value: null, at: null },
  },
  registeredAt: null,
  erasedAt: null,
});

/** The attribute values an event asserts. Erasure asserts `null` for every attribute. */
export function assertedBy(event: CustomerEvent): Partial<AttributeValues> {
  switch (event.type) {
    case 'customer.registered': {
      const { email, phone, givenName, familyName, address } = event.payload;
      return {
        email,
        givenName,
        familyName,
        ...(phone === undefined ? {} : { phone }),
        ...(address === undefined ? {} : { address }),
      };
    }
    case 'customer.profile-changed': {
      const { givenName, familyName } = event.payload;
      return {
        ...(givenName === undefined ? {} : { givenName }),
        ...(familyName === undefined ? {} : { familyName }),
      };
    }
    case 'customer.email-changed':
      return { email: event.payload.email };
    case 'customer.phone-changed':
      return { phone: event.payload.phone };
    case 'customer.address-changed':
      return { address: event.payload.address };
    case 'customer.erased':
      return { email: null, phone: null, givenName: null, familyName: null, address: null };
  }
}

export type Outcome = 'applied' | 'stale';

const newer = (at: number, register: Register<unknown>): boolean => register.at === null || at > register.at;

/**
 * Applies one event to a state. Each asserted attribute is taken only when the event is newer than the
 * fact that set it, so replays, duplicates and out-of-order delivery converge to the same state.
 * The outcome is `stale` when nothing of the event was newer.
 */
export function applyEvent(
  state: CustomerState,
  event: CustomerEvent,
): { state: CustomerState; outcome: Outcome } {
  const asserted = assertedBy(event);
  const attributes: Record<string, Register<unknown>> = { ...state.attributes };
  let changed = false;
  for (const name of ATTRIBUTES) {
    if (!(name in asserted)) continue;
    const register = state.attributes[name];
    if (newer(event.occurredAt, register)) {
      attributes[name] = { value: asserted[name] ?? null, at: event.occurredAt };
      changed = true;
    }
  }
  let { registeredAt, erasedAt } = state;
  if (event.type === 'customer.registered' && (registeredAt === null || event.occurredAt < registeredAt)) {
    registeredAt = event.occurredAt;
    changed = true;
  }
  if (event.type === 'customer.erased' && (erasedAt === null || event.occurredAt > erasedAt)) {
    erasedAt = event.occurredAt;
    changed = true;
  }
  return {
    state: { ...state, attributes: attributes as CustomerAttributes, registeredAt, erasedAt },
    outcome: changed ? 'applied' : 'stale',
  };
}
