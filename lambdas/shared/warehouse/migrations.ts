import type { Migration } from '../migrations/index.js';

/**
 * The analytics warehouse schema, as ordered, immutable migrations run by the same runner as the shards
 * (`migrateShard(client, WAREHOUSE_MIGRATIONS)`). One statement per entry: the Data API runs one per call.
 *
 * - `dim_customer`: one row per customer, the reporting model: the address flattened into columns, an
 *   `erased` flag with every personal attribute removed, the shard and the source version
 *   (`source_updated_at`) it was loaded from, and the batch that last wrote it.
 * - `etl_batches`: one row per window [window_start, window_end), contiguous and never overlapping; the
 *   status is that of the latest run of the batch.
 * - `etl_batch_runs`: one row per execution of a batch (the first run and every re-run).
 * - `etl_shard_attempts`: one row per attempt of a step on one shard (retries included), with the error.
 */
export const WAREHOUSE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'customer dimension and ETL audit log',
    statements: [
      `CREATE TABLE dim_customer (
        customer_id         text PRIMARY KEY,
        source_shard        text NOT NULL,
        email               text,
        phone               text,
        given_name          text,
        family_name         text,
        address_line1       text,
        address_line2       text,
        address_city        text,
        address_postal_code text,
        address_country     text,
        registered_at       timestamptz,
        erased              boolean NOT NULL,
        erased_at           timestamptz,
        event_count         bigint NOT NULL,
        last_event_at       timestamptz NOT NULL,
        source_updated_at   timestamptz NOT NULL,
        loaded_batch_id     text NOT NULL,
        loaded_at           timestamptz NOT NULL DEFAULT now(),
        CHECK (NOT erased OR (email IS NULL AND phone IS NULL AND given_name IS NULL AND family_name IS NULL
          AND address_line1 IS NULL AND address_line2 IS NULL AND address_city IS NULL
          AND address_postal_code IS NULL AND address_country IS NULL))
      )`,
      // Validation reads one shard's window in customer order.
      'CREATE INDEX dim_customer_window_idx ON dim_customer (source_shard, source_updated_at)',
      `CREATE TABLE etl_batches (
        batch_id       text PRIMARY KEY,
        window_start   timestamptz NOT NULL,
        window_end     timestamptz NOT NULL,
        status         text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
        runs           integer NOT NULL DEFAULT 1,
        created_at     timestamptz NOT NULL DEFAULT now(),
        started_at     timestamptz NOT NULL DEFAULT now(),
        finished_at    timestamptz,
        rows_extracted bigint,
        rows_written   bigint,
        source_rows    bigint,
        checksum       text,
        error          text,
        CHECK (window_end >= window_start)
      )`,
      // Windows are contiguous: two non-empty windows never start at the same instant.
      'CREATE UNIQUE INDEX etl_batches_window_idx ON etl_batches (window_start) WHERE window_end > window_start',
      'CREATE INDEX etl_batches_end_idx ON etl_batches (window_end)',
      `CREATE TABLE etl_batch_runs (
        batch_id       text NOT NULL REFERENCES etl_batches (batch_id),
        run            integer NOT NULL,
        status         text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
        started_at     timestamptz NOT NULL DEFAULT now(),
        finished_at    timestamptz,
        rows_extracted bigint,
        rows_written   bigint,
        source_rows    bigint,
        checksum       text,
        error          text,
        PRIMARY KEY (batch_id, run)
      )`,
      `CREATE TABLE etl_shard_attempts (
        attempt_id     bigserial PRIMARY KEY,
        batch_id       text NOT NULL,
        run            integer NOT NULL,
        shard_id       text NOT NULL,
        step           text NOT NULL CHECK (step IN ('extract-load', 'validate')),
        status         text NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED')),
        started_at     timestamptz NOT NULL,
        finished_at    timestamptz NOT NULL DEFAULT now(),
        rows_extracted bigint,
        rows_written   bigint,
        source_rows    bigint,
        warehouse_rows bigint,
        checksum       text,
        error          text,
        FOREIGN KEY (batch_id, run) REFERENCES etl_batch_runs (batch_id, run)
      )`,
      'CREATE INDEX etl_shard_attempts_batch_idx ON etl_shard_attempts (batch_id, run, shard_id)',
    ],
  },
];
