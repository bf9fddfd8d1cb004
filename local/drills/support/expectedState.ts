import type { Envelope } from '../../../lambdas/shared/events/index.js';

export type ExpectedCustomer = {
  email: string | null;
  phone: string | null;
  given_name: string | null;
  event_count: number;
};

/**
 * The state each customer must end in, computed independently of the consumer: traffic from
 * `generateTraffic` has strictly increasing times per customer, so replaying in time order is enough.
 */
export function expectedState(envelopes: readonly Envelope[]): Map<string, ExpectedCustomer> {
  const byTime = [...envelopes].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const state = new Map<string, ExpectedCustomer>();
  for (const e of byTime) {
    const c = state.get(e.customerId) ?? { email: null, phone: null, given_name: null, event_count: 0 };
    const p = e.payload as Record<string, unknown>;
    c.event_count += 1;
    switch (e.type) {
      case 'customer.registered':
        c.email = String(p.email).toLowerCase();
        if (typeof p.phone === 'string') c.phone = p.phone;
        c.given_name = String(p.givenName);
        break;
      case 'customer.email-changed':
        c.email = String(p.email).toLowerCase();
        break;
      case 'customer.phone-changed':
        c.phone = typeof p.phone === 'string' ? p.phone : null;
        break;
      case 'customer.profile-changed':
        if (typeof p.givenName === 'string') c.given_name = p.givenName;
        break;
      case 'customer.erased':
        c.email = null;
        c.phone = null;
        c.given_name = null;
        break;
    }
    state.set(e.customerId, c);
  }
  return state;
}
