import type { IPolicy } from 'cockatiel';
import { NOT_A_PROBE_CUSTOMER } from '../probes/consumerProbe.js';
import { type SqlClient, SqlJson, type SqlRow } from '../sql/index.js';
import {
  ID_ORDER,
  REPORTING_COLUMNS,
  type ReportingColumn,
  type ReportingType,
  shapedCustomerColumns,
} from './reportingRow.js';

/** One shard's part of a batch: the step input of both `extractLoad` and `validateShard`. */
export interface ShardWindow {
  readonly batchId: string;
  readonly run: number;
  readonly shardId: string;
  /** Inclusive, UTC ISO-8601. */
  readonly windowStart: string;
  /** Exclusive, UTC ISO-8601. */
  readonly windowEnd: string;
}

export interface LoadCounts {
  /** Source rows whose `updated_at` fell in the window when they were read. */
  readonly rowsExtracted: number;
  /** Warehouse rows inserted or changed (0 when the warehouse already held every row: a re-run). */
  readonly rowsWritten: number;
}

const EXTRACT_PAGE = `
  SELECT ${shapedCustomerColumns('load')}
  FROM customers
  WHERE updated_at >= :windowStart::timestamptz AND updated_at < :windowEnd::timestamptz
    AND ${NOT_A_PROBE_CUSTOMER}
    AND ${ID_ORDER} > :after
  ORDER BY ${ID_ORDER}
  LIMIT :limit`;

/** How each column travels in the page's JSON: bigints and timestamps as text (see `shapedCustomerColumns`). */
const JSON_TYPE: Readonly<Record<ReportingType, string>> = {
  text: 'text',
  boolean: 'boolean',
  bigint: 'text',
  timestamptz: 'text',
};

const fromJson = ({ name, type }: ReportingColumn) =>
  JSON_TYPE[type] === type ? `r.${name}` : `r.${name}::${type}`;

/** The columns compared to decide whether the same source version differs (a repair). */
const REPORTED = REPORTING_COLUMNS.map((c) => c.name).filter(
  (name) => name !== 'customer_id' && name !== 'source_updated_at',
);

/**
 * One set-based statement per page. A row is written when it is newer than the warehouse's, or the same
 * version with different content (a repair); an older version never overwrites a newer one, and the same
 * version again changes nothing, so re-running any batch is a no-op for rows already loaded.
 */
const LOAD_PAGE = `
  INSERT INTO dim_customer AS d (${REPORTING_COLUMNS.map((c) => c.name).join(', ')}, loaded_batch_id)
  SELECT ${REPORTING_COLUMNS.map(fromJson).join(', ')}, :batchId
  FROM jsonb_to_recordset(:rows::jsonb)
    AS r(${REPORTING_COLUMNS.map((c) => `${c.name} ${JSON_TYPE[c.type]}`).join(', ')})
  ON CONFLICT (customer_id) DO UPDATE SET
    ${[...REPORTED, 'source_updated_at', 'loaded_batch_id'].map((c) => `${c} = EXCLUDED.${c}`).join(', ')},
    loaded_at = now()
  WHERE d.source_updated_at < EXCLUDED.source_updated_at
    OR (d.source_updated_at = EXCLUDED.source_updated_at
      AND (${REPORTED.map((c) => `d.${c}`).join(', ')})
        IS DISTINCT FROM (${REPORTED.map((c) => `EXCLUDED.${c}`).join(', ')}))`;

/** How the ETL's SQL is paged and retried. */
export interface PageOptions {
  readonly policy: IPolicy;
  readonly pageSize: number;
}

/**
 * One shard's customers changed in the window, in the warehouse's shape: keyset pages by customer id
 * (each response well under the Data API's 1 MiB).
 * @throws {SqlError} when the shard fails (after `policy`'s retries).
 */
export async function* extractPages(
  source: SqlClient,
  window: ShardWindow,
  options: PageOptions,
): AsyncGenerator<readonly SqlRow[]> {
  let after = '';
  for (;;) {
    const page = await options.policy.execute(() =>
      source.query(EXTRACT_PAGE, {
        shardId: window.shardId,
        windowStart: window.windowStart,
        windowEnd: window.windowEnd,
        after,
        limit: options.pageSize,
      }),
    );
    const last = page.rows.at(-1);
    if (last === undefined) return;
    yield page.rows;
    if (page.rows.length < options.pageSize) return;
    after = String(last.customer_id);
  }
}

/**
 * Loads one extracted page into the warehouse with one upsert (a JSON parameter).
 * @returns the warehouse rows inserted or changed.
 * @throws {SqlError} when the warehouse fails (after `policy`'s retries).
 */
export async function loadPage(
  warehouse: SqlClient,
  window: ShardWindow,
  rows: readonly SqlRow[],
  policy: IPolicy,
): Promise<number> {
  const loaded = await policy.execute(() =>
    warehouse.query(LOAD_PAGE, { batchId: window.batchId, rows: new SqlJson(rows) }),
  );
  return loaded.rowCount;
}

/**
 * Copies one shard's customers changed in the window into the warehouse, page by page (see
 * {@link extractPages}), each page loaded by one upsert. Rows never pass through the state machine; only
 * the counts do.
 *
 * @throws {SqlError} when the shard or the warehouse fails (after `policy`'s retries).
 */
export async function extractLoad(
  source: SqlClient,
  warehouse: SqlClient,
  window: ShardWindow,
  options: PageOptions,
): Promise<LoadCounts> {
  let rowsExtracted = 0;
  let rowsWritten = 0;
  for await (const rows of extractPages(source, window, options)) {
    rowsWritten += await loadPage(warehouse, window, rows, options.policy);
    rowsExtracted += rows.length;
  }
  return { rowsExtracted, rowsWritten };
}
