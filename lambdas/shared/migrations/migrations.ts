/**
 * The shard schema, as ordered, immutable migrations. Indexes are added by the migration of the feature
 * that reads through them (every index costs every write of the consumer's hot path). A migration once released is never edited:
 * the runner records a checksum of each and refuses to run when a released one has changed. Each
 * migration is a list of single statements because the RDS Data API runs one statement per call.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

export const SHARD_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'customers and applied events',
    statements: [
      `CREATE TABLE customers (
        customer_id   text PRIMARY KEY,
        bucket        integer NOT NULL,
        email         text,
        phone         text,
        given_name    text,
        family_name   text,
        address       jsonb,
        registered_at timestamptz,
        erased_at     timestamptz,
        -- Per-attribute last-writer-wins: each attribute keeps the time of the fact that set it, so
        -- events applied in any order converge, and an older event never overwrites newer state.
        email_at       timestamptz,
        phone_at       timestamptz,
        given_name_at  timestamptz,
        family_name_at timestamptz,
        address_at     timestamptz,
        event_count   bigint NOT NULL DEFAULT 0,
        last_event_id uuid NOT NULL,
        last_event_at timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`,
      'CREATE INDEX customers_email_idx ON customers (email) WHERE email IS NOT NULL',
      'CREATE INDEX customers_phone_idx ON customers (phone) WHERE phone IS NOT NULL',
      `CREATE TABLE applied_events (
        event_id         uuid PRIMARY KEY,
        customer_id      text NOT NULL,
        type             text NOT NULL,
        version          integer NOT NULL,
        occurred_at      timestamptz NOT NULL,
        outcome          text NOT NULL CHECK (outcome IN ('applied', 'stale')),
        source_topic     text,
        source_partition integer,
        source_offset    bigint,
        applied_at       timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE index_outbox (
        customer_id text PRIMARY KEY,
        event_count bigint NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now(),
        attempts    integer NOT NULL DEFAULT 0,
        last_error  text
      )`,
    ],
  },
  {
    version: 2,
    name: 'customers by update time, for the warehouse extraction',
    statements: [
      // The ETL reads each window [start, end) of updated_at in pages ordered by customer_id.
      'CREATE INDEX customers_updated_at_idx ON customers (updated_at, customer_id)',
    ],
  },
  {
    version: 3,
    name: 'body digest of each applied event, to tell a redelivery from an event id reused for another fact',
    statements: [
      // Null for events recorded before this migration: their bodies are unknown, so a delivery under one
      // of their ids counts as a duplicate, as it always did.
      'ALTER TABLE applied_events ADD COLUMN body_digest text',
    ],
  },
];
