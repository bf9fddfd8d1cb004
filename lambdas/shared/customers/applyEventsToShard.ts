import type { CustomerEvent } from '../events/index.js';
import { type SqlClient, type SqlExecutor, SqlJson, type SqlRow } from '../sql/index.js';
import {
  type Address,
  type Attribute,
  applyEvent,
  type CustomerState,
  emptyCustomer,
  type Outcome,
} from './attributes.js';

/** Where a record came from, kept in the audit table. */
export interface SourcePosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface PendingEvent {
  readonly event: CustomerEvent;
  readonly source?: SourcePosition | undefined;
}

/** The index-relevant state of a customer after a commit. */
export interface IndexEntry {
  readonly customerId: string;
  readonly email: string | null;
  readonly phone: string | null;
  /** Monotonic per customer; the outbox row is cleared only up to the count that was indexed. */
  readonly eventCount: number;
}

export interface ShardApplyResult {
  /** eventId → what happened to it, for every event handed in. */
  readonly outcomes: ReadonlyMap<string, Outcome | 'duplicate'>;
  /** Customers whose email or phone changed: the Redis index must follow them. */
  readonly indexEntries: readonly IndexEntry[];
}

/** Thrown when a concurrent writer recorded one of the same events first: retry the batch. */
export class ConcurrentApplyError extends Error {
  public override readonly name = 'ConcurrentApplyError';
  public readonly retriable = true;
}

const COLUMNS: Record<Attribute, string> = {
  email: 'email',
  phone: 'phone',
  givenName: 'given_name',
  familyName: 'family_name',
  address: 'address',
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const ms = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

const SELECT_DUPLICATES = `
  SELECT event_id::text AS event_id FROM applied_events
  WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid)`;

const epoch = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;
const SELECT_FOR_UPDATE = `
  SELECT customer_id, email, phone, given_name, family_name, address,
    ${['email_at', 'phone_at', 'given_name_at', 'family_name_at', 'address_at', 'registered_at', 'erased_at'].map(epoch).join(', ')}
  FROM customers
  WHERE customer_id IN (SELECT jsonb_array_elements_text(:ids::jsonb))
  ORDER BY customer_id
  FOR UPDATE`;

const INSERT_APPLIED = `
  INSERT INTO applied_events
    (event_id, customer_id, type, version, occurred_at, outcome, source_topic, source_partition, source_offset)
  SELECT e.event_id::uuid, e.customer_id, e.type, e.version, e.occurred_at::timestamptz, e.outcome,
    e.topic, e.partition, e.position
  FROM jsonb_to_recordset(:events::jsonb) AS e(event_id text, customer_id text, type text, version integer,
    occurred_at text, outcome text, topic text, partition integer, position bigint)
  ON CONFLICT (event_id) DO NOTHING`;

const lww = (column: string) =>
  `${column} = CASE WHEN c.${column}_at IS NULL OR EXCLUDED.${column}_at > c.${column}_at
     THEN EXCLUDED.${column} ELSE c.${column} END,
   ${column}_at = GREATEST(c.${column}_at, EXCLUDED.${column}_at)`;

/**
 * The merge is last-writer-wins per attribute in SQL too, so that even two writers racing on a new
 * customer converge; event_count adds up, never overwrites.
 */
const UPSERT_CUSTOMERS = `
  WITH rows AS (
    SELECT * FROM jsonb_to_recordset(:rows::jsonb) AS r(customer_id text, bucket integer, email text, phone text,
      given_name text, family_name text, address jsonb, email_at timestamptz, phone_at timestamptz,
      given_name_at timestamptz, family_name_at timestamptz, address_at timestamptz, registered_at timestamptz,
      erased_at timestamptz, new_events integer, last_event_id uuid, last_event_at timestamptz, index_dirty boolean)
  ), upserted AS (
    INSERT INTO customers AS c (customer_id, bucket, email, phone, given_name, family_name, address, email_at,
      phone_at, given_name_at, family_name_at, address_at, registered_at, erased_at, event_count, last_event_id,
      last_event_at)
    SELECT customer_id, bucket, email, phone, given_name, family_name, address, email_at, phone_at, given_name_at,
      family_name_at, address_at, registered_at, erased_at, new_events, last_event_id, last_event_at
    FROM rows
    ON CONFLICT (customer_id) DO UPDATE SET
      ${['email', 'phone', 'given_name', 'family_name', 'address'].map(lww).join(',\n')},
      registered_at = LEAST(c.registered_at, EXCLUDED.registered_at),
      erased_at = GREATEST(c.erased_at, EXCLUDED.erased_at),
      event_count = c.event_count + EXCLUDED.event_count,
      last_event_id = CASE WHEN EXCLUDED.last_event_at >= c.last_event_at
        THEN EXCLUDED.last_event_id ELSE c.last_event_id END,
      last_event_at = GREATEST(c.last_event_at, EXCLUDED.last_event_at),
      updated_at = now()
    RETURNING customer_id, email, phone, event_count
  ), outbox AS (
    INSERT INTO index_outbox (customer_id, event_count)
    SELECT u.customer_id, u.event_count FROM upserted u JOIN rows r USING (customer_id) WHERE r.index_dirty
    ON CONFLICT (customer_id) DO UPDATE SET event_count = EXCLUDED.event_count, enqueued_at = now()
  )
  SELECT u.customer_id, u.email, u.phone, u.event_count::float8 AS event_count
  FROM upserted u JOIN rows r USING (customer_id) WHERE r.index_dirty`;

const stateFromRow = (row: SqlRow): CustomerState => {
  const register = <V>(column: string) => ({
    value: (row[column] ?? null) as V,
    at: ms(row[`${column}_at`]),
  });
  return {
    customerId: String(row.customer_id),
    attributes: {
      email: register<string | null>('email'),
      phone: register<string | null>('phone'),
      givenName: register<string | null>('given_name'),
      familyName: register<string | null>('family_name'),
      address: register<Address | null>('address'),
    },
    registeredAt: ms(row.registered_at),
    erasedAt: ms(row.erased_at),
  };
};

const byTimeThenId = (a: PendingEvent, b: PendingEvent) =>
  a.event.occurredAt - b.event.occurredAt || a.event.eventId.localeCompare(b.event.eventId);

/**
 * Applies events to one shard in a single transaction: events already recorded are reported as
 * duplicates and have no effect; every new event is recorded once in `applied_events` (the in-database
 * idempotency guard and audit trail) and merged into its customer; customers whose indexed attributes
 * changed are queued in `index_outbox` in the same transaction, so a lost Redis update is never lost.
 *
 * @param bucketOf - the router's bucket function, stored with new customers for later shard splits.
 * @throws {SqlError} when the database fails (retriable or not, as classified by the adapter).
 * @throws {ConcurrentApplyError} when another writer recorded one of these events meanwhile (retriable).
 */
export async function applyEventsToShard(
  client: SqlClient,
  pending: readonly PendingEvent[],
  bucketOf: (customerId: string) => number,
): Promise<ShardApplyResult> {
  const unique = new Map<string, PendingEvent>();
  for (const p of pending) if (!unique.has(p.event.eventId)) unique.set(p.event.eventId, p);
  if (unique.size === 0) return { outcomes: new Map(), indexEntries: [] };

  return client.transaction(async (tx) => {
    const outcomes = new Map<string, Outcome | 'duplicate'>();
    const duplicates = await tx.query<{ event_id: string }>(SELECT_DUPLICATES, {
      ids: new SqlJson([...unique.keys()]),
    });
    for (const row of duplicates.rows) outcomes.set(row.event_id, 'duplicate');
    const fresh = [...unique.values()].filter((p) => !outcomes.has(p.event.eventId));
    if (fresh.length === 0) return { outcomes, indexEntries: [] };

    const byCustomer = new Map<string, PendingEvent[]>();
    for (const p of fresh) {
      const list = byCustomer.get(p.event.customerId) ?? [];
      list.push(p);
      byCustomer.set(p.event.customerId, list);
    }
    const current = await tx.query(SELECT_FOR_UPDATE, { ids: new SqlJson([...byCustomer.keys()]) });
    const stored = new Map(current.rows.map((row) => [String(row.customer_id), stateFromRow(row)]));

    const auditRows: unknown[] = [];
    const customerRows: unknown[] = [];
    for (const [customerId, events] of byCustomer) {
      const before = stored.get(customerId) ?? emptyCustomer(customerId);
      let state = before;
      let last: PendingEvent | undefined;
      for (const p of events.sort(byTimeThenId)) {
        const next = applyEvent(state, p.event);
        state = next.state;
        outcomes.set(p.event.eventId, next.outcome);
        auditRows.push(auditRow(p, next.outcome));
        last = p;
      }
      if (last === undefined) continue;
      customerRows.push(customerRow(before, state, events.length, last, bucketOf(customerId)));
    }
    await insertAudit(tx, auditRows, fresh.length);
    const upserted = await tx.query<{
      customer_id: string;
      email: string | null;
      phone: string | null;
      event_count: number;
    }>(UPSERT_CUSTOMERS, { rows: new SqlJson(customerRows) });
    return {
      outcomes,
      indexEntries: upserted.rows.map((r) => ({
        customerId: r.customer_id,
        email: r.email,
        phone: r.phone,
        eventCount: Number(r.event_count),
      })),
    };
  });
}

async function insertAudit(tx: SqlExecutor, rows: unknown[], expected: number): Promise<void> {
  const inserted = await tx.query(INSERT_APPLIED, { events: new SqlJson(rows) });
  if (inserted.rowCount !== expected) {
    throw new ConcurrentApplyError(`expected to record ${expected} events, recorded ${inserted.rowCount}`);
  }
}

const auditRow = (p: PendingEvent, outcome: Outcome) => ({
  event_id: p.event.eventId,
  customer_id: p.event.customerId,
  type: p.event.type,
  version: p.event.version,
  occurred_at: iso(p.event.occurredAt),
  outcome,
  topic: p.source?.topic ?? null,
  partition: p.source?.partition ?? null,
  position: p.source?.offset ?? null,
});

function customerRow(
  before: CustomerState,
  after: CustomerState,
  newEvents: number,
  last: PendingEvent,
  bucket: number,
): Record<string, unknown> {
  const row: Record<string, unknown> = {
    customer_id: after.customerId,
    bucket,
    registered_at: iso(after.registeredAt),
    erased_at: iso(after.erasedAt),
    new_events: newEvents,
    last_event_id: last.event.eventId,
    last_event_at: iso(last.event.occurredAt),
    index_dirty:
      before.attributes.email.value !== after.attributes.email.value ||
      before.attributes.phone.value !== after.attributes.phone.value,
  };
  for (const [attribute, column] of Object.entries(COLUMNS) as Array<[Attribute, string]>) {
    row[column] = after.attributes[attribute].value;
    row[`${column}_at`] = iso(after.attributes[attribute].at);
  }
  return row;
}
