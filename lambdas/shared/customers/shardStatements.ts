/*
 * The set-based statements of one shard transaction (see applyEventsToShard). Each takes its rows as JSON
 * parameters, so a transaction costs two statements whatever its number of events, on pg and on the RDS
 * Data API alike: one reads (the events already recorded, and the customers' state, locked), one writes
 * (the audit rows, the merged customers and the index outbox).
 */

const EPOCH_COLUMNS = [
  'email_at',
  'phone_at',
  'given_name_at',
  'family_name_at',
  'address_at',
  'registered_at',
  'erased_at',
];
const epoch = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS ${column}`;

/**
 * Rows of `kind` 'recorded' (`event_id`, `body_digest`: the ids of `:ids` already in `applied_events`) and
 * rows of `kind` 'customer' (the stored state of the customers of `:customers`, locked in id order).
 */
export const READ_BATCH = `
  WITH recorded AS (
    SELECT event_id::text AS event_id, body_digest FROM applied_events
    WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid)
  ), locked AS (
    SELECT customer_id, email, phone, given_name, family_name, address, ${EPOCH_COLUMNS.map(epoch).join(', ')}
    FROM customers
    WHERE customer_id IN (SELECT jsonb_array_elements_text(:customers::jsonb))
    ORDER BY customer_id
    FOR UPDATE
  )
  SELECT 'recorded'::text AS kind, event_id, body_digest, NULL::text AS customer_id, NULL::text AS email,
    NULL::text AS phone, NULL::text AS given_name, NULL::text AS family_name, NULL::jsonb AS address,
    ${EPOCH_COLUMNS.map((c) => `NULL::float8 AS ${c}`).join(', ')}
  FROM recorded
  UNION ALL
  SELECT 'customer', NULL, NULL, customer_id, email, phone, given_name, family_name, address,
    ${EPOCH_COLUMNS.join(', ')}
  FROM locked`;

const INSERT_APPLIED = `
  INSERT INTO applied_events
    (event_id, customer_id, type, version, occurred_at, outcome, source_topic, source_partition, source_offset,
     body_digest)
  SELECT e.event_id::uuid, e.customer_id, e.type, e.version, e.occurred_at::timestamptz, e.outcome,
    e.topic, e.partition, e.position, e.body_digest
  FROM jsonb_to_recordset(:events::jsonb) AS e(event_id text, customer_id text, type text, version integer,
    occurred_at text, outcome text, topic text, partition integer, position bigint, body_digest text)
  ON CONFLICT (event_id) DO NOTHING
  RETURNING 1`;

const lww = (column: string) =>
  `${column} = CASE WHEN c.${column}_at IS NULL OR EXCLUDED.${column}_at > c.${column}_at
     THEN EXCLUDED.${column} ELSE c.${column} END,
   ${column}_at = GREATEST(c.${column}_at, EXCLUDED.${column}_at)`;

/**
 * Records the audit rows of `:events` and merges the customers of `:rows`. One row of `kind` 'recorded'
 * whose `event_count` is the number of audit rows inserted (fewer than handed in means a concurrent writer
 * recorded some first: the caller rolls back), then one row of `kind` 'index' per customer whose indexed
 * attributes changed, queued in `index_outbox` too.
 *
 * The merge is last-writer-wins per attribute in SQL too, so that even two writers racing on a new
 * customer converge; event_count adds up, never overwrites.
 */
export const WRITE_BATCH = `
  WITH applied AS (${INSERT_APPLIED}
  ), rows AS (
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
  SELECT 'recorded'::text AS kind, NULL::text AS customer_id, NULL::text AS email, NULL::text AS phone,
    (SELECT count(*) FROM applied)::float8 AS event_count
  UNION ALL
  SELECT 'index', u.customer_id, u.email, u.phone, u.event_count::float8
  FROM upserted u JOIN rows r USING (customer_id) WHERE r.index_dirty`;
