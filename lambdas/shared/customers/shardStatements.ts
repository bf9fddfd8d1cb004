/*
 * The set-based statements of one shard transaction (see applyEventsToShard). Each takes its rows as one
 * JSON parameter, so a transaction costs four statements whatever its number of events, on pg and on the
 * RDS Data API alike.
 */

export const SELECT_RECORDED = `
  SELECT event_id::text AS event_id, body_digest FROM applied_events
  WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid)`;

const epoch = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;
export const SELECT_FOR_UPDATE = `
  SELECT customer_id, email, phone, given_name, family_name, address,
    ${['email_at', 'phone_at', 'given_name_at', 'family_name_at', 'address_at', 'registered_at', 'erased_at'].map(epoch).join(', ')}
  FROM customers
  WHERE customer_id IN (SELECT jsonb_array_elements_text(:ids::jsonb))
  ORDER BY customer_id
  FOR UPDATE`;

export const INSERT_APPLIED = `
  INSERT INTO applied_events
    (event_id, customer_id, type, version, occurred_at, outcome, source_topic, source_partition, source_offset,
     body_digest)
  SELECT e.event_id::uuid, e.customer_id, e.type, e.version, e.occurred_at::timestamptz, e.outcome,
    e.topic, e.partition, e.position, e.body_digest
  FROM jsonb_to_recordset(:events::jsonb) AS e(event_id text, customer_id text, type text, version integer,
    occurred_at text, outcome text, topic text, partition integer, position bigint, body_digest text)
  ON CONFLICT (event_id) DO NOTHING`;

const lww = (column: string) =>
  `${column} = CASE WHEN c.${column}_at IS NULL OR EXCLUDED.${column}_at > c.${column}_at
     THEN EXCLUDED.${column} ELSE c.${column} END,
   ${column}_at = GREATEST(c.${column}_at, EXCLUDED.${column}_at)`;

/**
 * The merge is last-writer-wins per attribute in SQL too, so that even two writers racing on a new
 * customer converge; event_count adds up, never overwrites.
 */
export const UPSERT_CUSTOMERS = `
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
