import type { Envelope } from '../../../lambdas/shared/events/index.js';
import { PgSqlClient } from '../../../lambdas/shared/sql/index.js';
import { type ExpectedCustomer, expectedState } from './expectedState.js';

/** What the shards hold for one drill's customers. */
export interface Effects {
  /** Ids of the events the shards recorded (each once: the idempotency key). */
  readonly appliedIds: Set<string>;
  /** Effects on the customers: the sum of their event counts (an event applied twice counts twice). */
  readonly effects: number;
  readonly customers: Map<string, ExpectedCustomer>;
}

/** Reads the recorded events and customer state of the customers whose id starts with `prefix-`. */
export async function readEffects(shardUrls: readonly string[], prefix: string): Promise<Effects> {
  const appliedIds = new Set<string>();
  const customers = new Map<string, ExpectedCustomer>();
  let effects = 0;
  for (const url of shardUrls) {
    const client = new PgSqlClient({ name: 'drill-effects', connectionString: url, maxConnections: 1 });
    try {
      const like = `${prefix}-%`;
      const events = await client.query<{ id: string }>(
        'SELECT event_id::text AS id FROM applied_events WHERE customer_id LIKE :like',
        { like },
      );
      for (const { id } of events.rows) appliedIds.add(id);
      const rows = await client.query<{ customer_id: string } & ExpectedCustomer>(
        `SELECT customer_id, email, phone, given_name, event_count::int AS event_count FROM customers
         WHERE customer_id LIKE :like`,
        { like },
      );
      for (const { customer_id, ...state } of rows.rows) {
        customers.set(customer_id, state);
        effects += state.event_count;
      }
    } finally {
      await client.close();
    }
  }
  return { appliedIds, effects, customers };
}

export interface Tally {
  readonly applied: number;
  readonly lost: number;
  readonly duplicateEffects: number;
  readonly lostIds: string[];
  /** Customers whose state differs from the state computed from the accepted events. */
  readonly wrongCustomers: string[];
  /** Each loss, duplicate or wrong state, named. */
  readonly problems: string[];
}

const named = (ids: readonly string[]) =>
  `${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ` and ${ids.length - 3} more` : ''}`;

/** Compares what the shards hold with the accepted events: every one applied, once, to the right state. */
export function tally(accepted: readonly Envelope[], effects: Effects): Tally {
  const lostIds = accepted.filter((e) => !effects.appliedIds.has(e.eventId)).map((e) => e.eventId);
  const duplicateEffects = Math.max(0, effects.effects - effects.appliedIds.size);
  const wrongCustomers: string[] = [];
  for (const [id, state] of expectedState(accepted)) {
    const actual = effects.customers.get(id);
    if (
      actual === undefined ||
      actual.email !== state.email ||
      actual.phone !== state.phone ||
      actual.given_name !== state.given_name ||
      actual.event_count !== state.event_count
    )
      wrongCustomers.push(id);
  }
  const problems: string[] = [];
  if (lostIds.length > 0) problems.push(`lost ${lostIds.length} accepted event(s): ${named(lostIds)}`);
  if (duplicateEffects > 0) problems.push(`${duplicateEffects} duplicate effect(s)`);
  if (wrongCustomers.length > 0)
    problems.push(`${wrongCustomers.length} customer(s) not in the expected state: ${named(wrongCustomers)}`);
  return {
    applied: effects.appliedIds.size,
    lost: lostIds.length,
    duplicateEffects,
    lostIds,
    wrongCustomers,
    problems,
  };
}

/**
 * The events to publish: all of them, or (test-only `injectLoss`) all but one in the middle, which is
 * still counted as accepted, so the scorecard must report it lost.
 */
export function withInjectedLoss(traffic: readonly Envelope[], injectLoss: boolean | undefined): Envelope[] {
  if (!injectLoss || traffic.length === 0) return [...traffic];
  const dropped = Math.floor(traffic.length / 2);
  return traffic.filter((_, i) => i !== dropped);
}
