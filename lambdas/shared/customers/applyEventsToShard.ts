import { PlatformError } from '../errors.js';
import { type CustomerEvent, eventDigest } from '../events/index.js';
import { type SqlClient, SqlJson, type SqlRow } from '../sql/index.js';
import {
  type Address,
  type Attribute,
  applyEvent,
  type CustomerState,
  emptyCustomer,
  type Outcome,
} from './attributes.js';
import { READ_BATCH, WRITE_BATCH } from './shardStatements.js';

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
  /** eventId → what happened to the body recorded under it, for every event id handed in. */
  readonly outcomes: ReadonlyMap<string, Outcome | 'duplicate'>;
  /**
   * Bodies not applied because their event id is recorded (or applied in this call) with another body,
   * as {@link conflictKeyOf} keys: the first body recorded under an id stays, the others are conflicts.
   */
  readonly conflicts: ReadonlySet<string>;
  /** Customers whose email or phone changed: the Redis index must follow them. */
  readonly indexEntries: readonly IndexEntry[];
}

/** What happened to one event: merged (`applied`, `stale`), already recorded, or refused as a conflict. */
export type ShardOutcome = Outcome | 'duplicate' | 'conflict';

/** One body under one event id: the key of {@link ShardApplyResult.conflicts}. */
export const conflictKeyOf = (event: CustomerEvent): string => `${event.eventId}:${eventDigest(event)}`;

/** The outcome of `event` in `result`, or undefined when it was not handed in. */
export function outcomeOf(result: ShardApplyResult, event: CustomerEvent): ShardOutcome | undefined {
  return result.conflicts.has(conflictKeyOf(event)) ? 'conflict' : result.outcomes.get(event.eventId);
}

/** Thrown when a concurrent writer recorded one of the same events first: retry the batch. */
export class ConcurrentApplyError extends PlatformError {
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

/** Delivery order (topic, partition, offset) where known: of two bodies under one id, the first delivered wins. */
export const deliveryOrder = (a: PendingEvent, b: PendingEvent) =>
  a.source === undefined || b.source === undefined
    ? 0
    : a.source.topic.localeCompare(b.source.topic) ||
      a.source.partition - b.source.partition ||
      a.source.offset - b.source.offset;

/**
 * Applies events to one shard in a single transaction: events already recorded are reported as
 * duplicates and have no effect; every new event is recorded once in `applied_events` (the in-database
 * idempotency guard and audit trail, with the digest of its body) and merged into its customer; a body
 * delivered under an event id already recorded with another body is a conflict and has no effect;
 * customers whose indexed attributes changed are queued in `index_outbox` in the same transaction, so a
 * lost Redis update is never lost. Event ids are compared as given: the event schema makes them lower case.
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
  const byId = new Map<string, PendingEvent[]>();
  for (const p of [...pending].sort(deliveryOrder)) {
    const bodies = byId.get(p.event.eventId) ?? [];
    bodies.push(p);
    byId.set(p.event.eventId, bodies);
  }
  if (byId.size === 0) return { outcomes: new Map(), conflicts: new Set(), indexEntries: [] };

  const customerIds = new Set<string>();
  for (const p of pending) customerIds.add(p.event.customerId);
  return client.transaction(async (tx) => {
    const outcomes = new Map<string, Outcome | 'duplicate'>();
    const conflicts = new Set<string>();
    // One round trip: the recorded events and every customer of the batch, locked (a customer whose
    // events all turn out to be recorded is locked for nothing, which costs less than another statement).
    const read = await tx.query(READ_BATCH, {
      ids: new SqlJson([...byId.keys()]),
      customers: new SqlJson([...customerIds]),
    });
    const recordedDigests = new Map<string, string | null>();
    const stored = new Map<string, CustomerState>();
    for (const row of read.rows) {
      if (row.kind === 'recorded') {
        recordedDigests.set(String(row.event_id), (row.body_digest ?? null) as string | null);
      } else {
        stored.set(String(row.customer_id), stateFromRow(row));
      }
    }
    const fresh: PendingEvent[] = [];
    for (const [eventId, bodies] of byId) {
      // Recorded without a digest (before they were kept): any body under the id counts as a duplicate.
      const recorded = recordedDigests.get(eventId);
      const first = bodies[0];
      if (first === undefined) continue;
      if (recorded === undefined) fresh.push(first);
      else outcomes.set(eventId, 'duplicate');
      const kept = recorded === undefined ? eventDigest(first.event) : recorded;
      for (const p of bodies) {
        if (kept !== null && eventDigest(p.event) !== kept) conflicts.add(conflictKeyOf(p.event));
      }
    }
    if (fresh.length === 0) return { outcomes, conflicts, indexEntries: [] };

    const byCustomer = new Map<string, PendingEvent[]>();
    for (const p of fresh) {
      const list = byCustomer.get(p.event.customerId) ?? [];
      list.push(p);
      byCustomer.set(p.event.customerId, list);
    }

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
    const written = await tx.query<{
      kind: string;
      customer_id: string;
      email: string | null;
      phone: string | null;
      event_count: number;
    }>(WRITE_BATCH, { events: new SqlJson(auditRows), rows: new SqlJson(customerRows) });
    const recordedNow = Number(written.rows.find((r) => r.kind === 'recorded')?.event_count);
    if (recordedNow !== fresh.length) {
      // Another writer recorded some of these events since they were read: this transaction rolls back.
      throw new ConcurrentApplyError(`expected to record ${fresh.length} events, recorded ${recordedNow}`);
    }
    return {
      outcomes,
      conflicts,
      indexEntries: written.rows
        .filter((r) => r.kind === 'index')
        .map((r) => ({
          customerId: r.customer_id,
          email: r.email,
          phone: r.phone,
          eventCount: Number(r.event_count),
        })),
    };
  });
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
  body_digest: eventDigest(p.event),
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
