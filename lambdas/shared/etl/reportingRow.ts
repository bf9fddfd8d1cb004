/**
 * The reporting shape of a customer, and its digest, defined once for both sides of the ETL.
 *
 * `REPORTING_COLUMNS` is the one list of `dim_customer`'s columns that come from a shard: the shard side
 * selects them from `customers` with `shapedCustomerColumns`, the load writes them, and `ROW_DIGEST` is one
 * SQL expression over all of them, evaluated by each database on its own rows, so a mapping error in the
 * load of any column shows up as a different digest.
 */

/** Customer ids compare byte-wise on both databases and in this code, whatever their default collation. */
export const ID_ORDER = 'customer_id COLLATE "C"';

/** The SQL type of a reporting column in `dim_customer`. */
export type ReportingType = 'text' | 'boolean' | 'bigint' | 'timestamptz';

export interface ReportingColumn {
  /** The column of `dim_customer`. */
  readonly name: string;
  /** Its value over a shard's `customers` row; `:shardId` is the shard being read. */
  readonly source: string;
  readonly type: ReportingType;
  /** A personal attribute: dropped (NULL) on the way out of the shard when the customer is erased. */
  readonly personal?: boolean;
}

const personal = (name: string, source = name): ReportingColumn => ({
  name,
  source,
  type: 'text',
  personal: true,
});

/** Every column the load writes from the shard, in digest order. `customer_id` is the key. */
export const REPORTING_COLUMNS: readonly ReportingColumn[] = [
  { name: 'customer_id', source: 'customer_id', type: 'text' },
  { name: 'source_shard', source: ':shardId::text', type: 'text' },
  { name: 'event_count', source: 'event_count', type: 'bigint' },
  personal('email'),
  personal('phone'),
  personal('given_name'),
  personal('family_name'),
  personal('address_line1', "address->>'line1'"),
  personal('address_line2', "address->>'line2'"),
  personal('address_city', "address->>'city'"),
  personal('address_postal_code', "address->>'postalCode'"),
  personal('address_country', "address->>'country'"),
  { name: 'erased', source: 'erased_at IS NOT NULL', type: 'boolean' },
  { name: 'registered_at', source: 'registered_at', type: 'timestamptz' },
  { name: 'erased_at', source: 'erased_at', type: 'timestamptz' },
  { name: 'last_event_at', source: 'last_event_at', type: 'timestamptz' },
  { name: 'source_updated_at', source: 'updated_at', type: 'timestamptz' },
];

const UTC_ISO = (expression: string) =>
  `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * A shard's `customers` row in the warehouse's shape (statements using it take `:shardId`). For the load
 * (`'load'`), timestamps leave as UTC text with microseconds (so the source version, `source_updated_at`,
 * survives the trip through JSON exactly) and the event count as text (it is a bigint); for the digest
 * (`'digest'`) they keep their SQL types.
 * @param shardId the SQL giving the shard's id, `:shardId` unless told (a literal where no parameters go).
 */
export const shapedCustomerColumns = (form: 'load' | 'digest', shardId = ':shardId'): string =>
  REPORTING_COLUMNS.map((column) => {
    const raw = column.source.replace(':shardId', shardId);
    const value = column.personal ? `CASE WHEN erased_at IS NULL THEN ${raw} END` : raw;
    if (form === 'digest') return `${value} AS ${column.name}`;
    if (column.type === 'timestamptz') return `${UTC_ISO(value)} AS ${column.name}`;
    if (column.type === 'bigint') return `(${value})::text AS ${column.name}`;
    return `${value} AS ${column.name}`;
  }).join(',\n  ');

/** One column as digest text: timestamps as epoch microseconds; `NULL` as U+001E. */
const digestText = ({ name, type }: ReportingColumn): string => {
  if (type === 'timestamptz') {
    return `coalesce(round(extract(epoch FROM ${name}) * 1000000)::bigint::text, chr(30))`;
  }
  return `coalesce(${type === 'text' ? name : `${name}::text`}, chr(30))`;
};

/**
 * md5 of one reporting row: every column of `REPORTING_COLUMNS` in order, named as in `dim_customer`,
 * as text (timestamps as epoch microseconds, booleans as `true`/`false`, NULL as U+001E), joined by
 * U+001F. Evaluated by PostgreSQL on both sides.
 */
export const ROW_DIGEST = `md5(concat_ws(chr(31), ${REPORTING_COLUMNS.map(digestText).join(', ')}))`;

const MODULUS = 1n << 64n;

/**
 * An order-independent checksum of a set of rows: the sum, modulo 2^64, of the first 64 bits of each
 * row digest, as 16 hex digits. Checksums of disjoint sets add up with {@link addChecksums}.
 */
export function checksumOf(digests: Iterable<string>): string {
  let sum = 0n;
  for (const digest of digests) sum = (sum + BigInt(`0x${digest.slice(0, 16)}`)) % MODULUS;
  return sum.toString(16).padStart(16, '0');
}

/** The checksum of the union of disjoint sets, from theirs. */
export function addChecksums(checksums: Iterable<string>): string {
  let sum = 0n;
  for (const checksum of checksums) sum = (sum + BigInt(`0x${checksum}`)) % MODULUS;
  return sum.toString(16).padStart(16, '0');
}

/** Compares customer ids the way `ID_ORDER` sorts them (byte-wise UTF-8). */
export const compareIds = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
