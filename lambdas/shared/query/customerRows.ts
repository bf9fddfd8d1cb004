import { addressSchema } from '../events/schemas.js';
import type { IndexedCustomer } from '../index/CustomerIndex.js';
import { NOT_A_PROBE_CUSTOMER } from '../probes/consumerProbe.js';
import type { SqlExecutor } from '../sql/index.js';
import type { Customer, LookupKind } from './types.js';

/**
 * Columns of the public view, in forms both SQL adapters return alike: text for JSON and timestamps.
 * "Erased" means erased with nothing recorded since: a fact newer than the erasure (a new email, say)
 * belongs to the customer again and is shown.
 */
const VIEW = `
  customer_id, email, phone, given_name, family_name, address::text AS address,
  to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS registered_at,
  COALESCE(erased_at >= GREATEST(email_at, phone_at, given_name_at, family_name_at, address_at),
    erased_at IS NOT NULL) AS erased,
  event_count::float8 AS event_count`;

/** Probe customers (deployment checks) are never answered: they are not customers. */
const BY_ID = `SELECT ${VIEW} FROM customers WHERE customer_id = :id AND ${NOT_A_PROBE_CUSTOMER}`;

/**
 * Served by the partial indexes on email and phone. Should two customers hold the same value (one took it
 * over while the other's change is still on its way), the one that asserted it last wins, as in the index.
 */
const BY_KEY: Readonly<Record<LookupKind, string>> = {
  email: `SELECT ${VIEW}, (extract(epoch FROM email_at) * 1000)::float8 AS matched_at
    FROM customers WHERE email = :value AND ${NOT_A_PROBE_CUSTOMER} ORDER BY email_at DESC NULLS LAST, customer_id LIMIT 1`,
  phone: `SELECT ${VIEW}, (extract(epoch FROM phone_at) * 1000)::float8 AS matched_at
    FROM customers WHERE phone = :value AND ${NOT_A_PROBE_CUSTOMER} ORDER BY phone_at DESC NULLS LAST, customer_id LIMIT 1`,
};

interface CustomerRow {
  customer_id: string;
  email: string | null;
  phone: string | null;
  given_name: string | null;
  family_name: string | null;
  address: string | null;
  registered_at: string | null;
  erased: boolean;
  event_count: number;
  matched_at?: number | null;
}

/** A customer as read from its shard, with what the index needs to write it through. */
export interface StoredCustomer {
  readonly customer: Customer;
  /** The index entry of this state (its email and phone, even when the view hides them). */
  readonly entry: IndexedCustomer;
  /** Epoch ms at which the matched email or phone was set (scans only; 0 when unknown). */
  readonly matchedAt: number;
}

function fromRow(row: CustomerRow): StoredCustomer {
  const entry = {
    customerId: row.customer_id,
    email: row.email,
    phone: row.phone,
    eventCount: Number(row.event_count),
  };
  const customer: Customer = row.erased
    ? {
        customerId: row.customer_id,
        email: null,
        phone: null,
        givenName: null,
        familyName: null,
        address: null,
        registeredAt: null,
        erased: true,
      }
    : {
        customerId: row.customer_id,
        email: row.email,
        phone: row.phone,
        givenName: row.given_name,
        familyName: row.family_name,
        address: row.address === null ? null : addressSchema.parse(JSON.parse(row.address)),
        registeredAt: row.registered_at,
        erased: false,
      };
  return { customer, entry, matchedAt: Number(row.matched_at ?? 0) };
}

/** The customer with this id on this shard, if any. @throws {SqlError} when the shard fails. */
export async function readCustomer(shard: SqlExecutor, customerId: string): Promise<StoredCustomer | null> {
  const { rows } = await shard.query<CustomerRow & Record<string, unknown>>(BY_ID, { id: customerId });
  const row = rows[0];
  return row === undefined ? null : fromRow(row);
}

/** The customer of this shard holding the email or phone, if any. @throws {SqlError} when the shard fails. */
export async function findCustomer(
  shard: SqlExecutor,
  kind: LookupKind,
  value: string,
): Promise<StoredCustomer | null> {
  const { rows } = await shard.query<CustomerRow & Record<string, unknown>>(BY_KEY[kind], { value });
  const row = rows[0];
  return row === undefined ? null : fromRow(row);
}

/** Whether the stored state still holds the email or phone a look-up was for. */
export const holds = (stored: StoredCustomer, kind: LookupKind, value: string): boolean =>
  (kind === 'email' ? stored.entry.email : stored.entry.phone) === value;

/** The most recent holder among the answers of several shards (ties broken by id, as in SQL). */
export function latestHolder(found: readonly StoredCustomer[]): StoredCustomer | null {
  let best: StoredCustomer | null = null;
  for (const candidate of found) {
    if (
      best === null ||
      candidate.matchedAt > best.matchedAt ||
      (candidate.matchedAt === best.matchedAt && candidate.entry.customerId < best.entry.customerId)
    ) {
      best = candidate;
    }
  }
  return best;
}
