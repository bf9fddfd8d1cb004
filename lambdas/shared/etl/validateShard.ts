import type { IPolicy } from 'cockatiel';
import { NOT_A_PROBE_CUSTOMER } from '../probes/consumerProbe.js';
import { type SqlClient, SqlJson, type SqlParams } from '../sql/index.js';
import { EtlValidationError } from './errors.js';
import type { ShardWindow } from './extractLoad.js';
import { checksumOf, compareIds, ID_ORDER, ROW_DIGEST, shapedCustomerColumns } from './reportingRow.js';

/** Counts and the checksum of one shard's window, once source and warehouse agree. */
export interface ShardValidation {
  /** Source rows in the window. */
  readonly sourceRows: number;
  /** Warehouse rows of the shard in the window, less those the source has since moved past the window. */
  readonly warehouseRows: number;
  /** The checksum of the window's rows (the same on both sides once they agree): the audit figure. */
  readonly checksum: string;
}

const SOURCE_DIGESTS = `
  SELECT customer_id, ${ROW_DIGEST} AS digest
  FROM (
    SELECT ${shapedCustomerColumns('digest')} FROM customers
    WHERE updated_at >= :windowStart::timestamptz AND updated_at < :windowEnd::timestamptz
      AND ${NOT_A_PROBE_CUSTOMER}
      AND ${ID_ORDER} > :after
    ORDER BY ${ID_ORDER}
    LIMIT :limit
  ) shaped
  ORDER BY ${ID_ORDER}`;

const WAREHOUSE_DIGESTS = `
  SELECT customer_id, ${ROW_DIGEST} AS digest
  FROM dim_customer
  WHERE source_shard = :shardId
    AND source_updated_at >= :windowStart::timestamptz AND source_updated_at < :windowEnd::timestamptz
    AND ${ID_ORDER} > :after
  ORDER BY ${ID_ORDER}
  LIMIT :limit`;

/** A 64-bit half of a row digest (16 hex digits from `from`) as a signed bigint. */
const half = (from: number) => `('x' || substr(digest, ${from}, 16))::bit(64)::bigint`;
/** Sum modulo 2^64 (as unsigned text) of the signed halves: the same as summing them unsigned. */
const sum64 = (from: number) =>
  `mod(mod(coalesce(sum(${half(from)}::numeric), 0), 18446744073709551616) + 18446744073709551616, 18446744073709551616)::text`;
/** Row count and two checksums of the digests, computed where the rows are. */
const SUMMARY = `count(*)::float8 AS row_count, ${sum64(1)} AS checksum, ${sum64(17)} AS checksum2`;

const SOURCE_SUMMARY = `
  SELECT ${SUMMARY}
  FROM (
    SELECT ${ROW_DIGEST} AS digest
    FROM (
      SELECT ${shapedCustomerColumns('digest')} FROM customers
      WHERE updated_at >= :windowStart::timestamptz AND updated_at < :windowEnd::timestamptz
        AND ${NOT_A_PROBE_CUSTOMER}
    ) shaped
  ) digests`;

const WAREHOUSE_SUMMARY = `
  SELECT ${SUMMARY}
  FROM (
    SELECT ${ROW_DIGEST} AS digest
    FROM dim_customer
    WHERE source_shard = :shardId
      AND source_updated_at >= :windowStart::timestamptz AND source_updated_at < :windowEnd::timestamptz
  ) digests`;

interface Summary {
  readonly rows: number;
  /** {@link checksumOf} of the digests: the sum of their first 64 bits. */
  readonly checksum: string;
  /** The same over their last 64 bits. */
  readonly checksum2: string;
}

async function summaryOf(
  client: SqlClient,
  sql: string,
  params: SqlParams,
  policy: IPolicy,
): Promise<Summary> {
  const result = await policy.execute(() => client.query(sql, params));
  const row = result.rows[0];
  const hex = (value: unknown) => BigInt(String(value)).toString(16).padStart(16, '0');
  return { rows: Number(row?.row_count), checksum: hex(row?.checksum), checksum2: hex(row?.checksum2) };
}

const MOVED_PAST_WINDOW = `
  SELECT customer_id FROM customers
  WHERE customer_id IN (SELECT jsonb_array_elements_text(:ids::jsonb))
    AND updated_at >= :windowEnd::timestamptz`;

interface Digest {
  readonly id: string;
  readonly digest: string;
}

/** Most ids named in a validation error. */
const EXAMPLES = 5;

async function* digests(
  client: SqlClient,
  sql: string,
  params: SqlParams,
  policy: IPolicy,
  pageSize: number,
): AsyncGenerator<Digest> {
  let after = '';
  for (;;) {
    const page = await policy.execute(() => client.query(sql, { ...params, after, limit: pageSize }));
    for (const row of page.rows) yield { id: String(row.customer_id), digest: String(row.digest) };
    const last = page.rows.at(-1);
    if (last === undefined || page.rows.length < pageSize) return;
    after = String(last.customer_id);
  }
}

/**
 * Checks that the warehouse holds exactly the shard's rows of the window. Each database digests its own
 * rows with the same expression and returns only their count and two sums of the digests (128 bits in
 * all); when both sides agree the check is done in two statements, however many rows there are. When they
 * differ, both sides are read in customer order, digest by digest, and merged, which names the rows. A row only the
 * warehouse has in the window is accepted when the shard has since moved that customer past the window
 * (a later batch carries it); a missing row, a differing row or any other extra row fails the check.
 *
 * @throws {EtlValidationError} when source and warehouse disagree.
 * @throws {SqlError} when the shard or the warehouse fails (after `policy`'s retries).
 */
export async function validateShard(
  source: SqlClient,
  warehouse: SqlClient,
  window: ShardWindow,
  options: { readonly policy: IPolicy; readonly pageSize: number },
): Promise<ShardValidation> {
  const range = { windowStart: window.windowStart, windowEnd: window.windowEnd };
  const { policy, pageSize } = options;
  const params = { ...range, shardId: window.shardId };
  const [sourceSummary, warehouseSummary] = await Promise.all([
    summaryOf(source, SOURCE_SUMMARY, params, policy),
    summaryOf(warehouse, WAREHOUSE_SUMMARY, params, policy),
  ]);
  if (
    sourceSummary.rows === warehouseSummary.rows &&
    sourceSummary.checksum === warehouseSummary.checksum &&
    sourceSummary.checksum2 === warehouseSummary.checksum2
  ) {
    return {
      sourceRows: sourceSummary.rows,
      warehouseRows: warehouseSummary.rows,
      checksum: sourceSummary.checksum,
    };
  }
  const sourceSide = digests(source, SOURCE_DIGESTS, { ...range, shardId: window.shardId }, policy, pageSize);
  const warehouseSide = digests(
    warehouse,
    WAREHOUSE_DIGESTS,
    { ...range, shardId: window.shardId },
    policy,
    pageSize,
  );
  const sourceDigests: string[] = [];
  const warehouseDigests: string[] = [];
  const missing: string[] = [];
  const differing: string[] = [];
  const extra: Digest[] = [];
  let s = await sourceSide.next();
  let w = await warehouseSide.next();
  while (!s.done || !w.done) {
    const order = s.done ? 1 : w.done ? -1 : compareIds(s.value.id, w.value.id);
    if (order < 0 && !s.done) {
      missing.push(s.value.id);
      sourceDigests.push(s.value.digest);
      s = await sourceSide.next();
    } else if (order > 0 && !w.done) {
      extra.push(w.value);
      w = await warehouseSide.next();
    } else if (!s.done && !w.done) {
      if (s.value.digest !== w.value.digest) differing.push(s.value.id);
      sourceDigests.push(s.value.digest);
      warehouseDigests.push(w.value.digest);
      [s, w] = await Promise.all([sourceSide.next(), warehouseSide.next()]);
    }
  }
  const moved = new Set<string>();
  for (let i = 0; i < extra.length; i += pageSize) {
    const ids = extra.slice(i, i + pageSize).map((e) => e.id);
    const found = await policy.execute(() =>
      source.query(MOVED_PAST_WINDOW, { ids: new SqlJson(ids), windowEnd: window.windowEnd }),
    );
    for (const row of found.rows) moved.add(String(row.customer_id));
  }
  const unexplained = extra.filter((e) => !moved.has(e.id));
  // With nothing missing, differing or unexplained, both sides hold the same digests: the checksums agree.
  if (missing.length + differing.length + unexplained.length > 0) {
    const sample = (ids: readonly string[]) => ids.slice(0, EXAMPLES).join(', ');
    const warehouseRows = warehouseDigests.length + unexplained.length;
    throw new EtlValidationError(
      `${window.shardId} [${window.windowStart}, ${window.windowEnd}): ${missing.length} rows missing from the warehouse` +
        ` (${sample(missing)}), ${differing.length} differing (${sample(differing)}), ${unexplained.length} extra` +
        ` (${sample(unexplained.map((e) => e.id))}); source ${sourceDigests.length} rows ${checksumOf(sourceDigests)},` +
        ` warehouse ${warehouseRows} rows ${checksumOf([...warehouseDigests, ...unexplained.map((e) => e.digest)])}`,
      {
        context: {
          ...window,
          sourceRows: sourceDigests.length,
          warehouseRows,
          missing: missing.length,
          differing: differing.length,
          extra: unexplained.length,
        },
      },
    );
  }
  return {
    sourceRows: sourceDigests.length,
    warehouseRows: warehouseDigests.length,
    checksum: checksumOf(sourceDigests),
  };
}
