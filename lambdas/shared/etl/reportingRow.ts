/**
 * The reporting shape of a customer, and its digest, defined once for both sides of the ETL.
 *
 * The shard side selects `shapedCustomerColumns`  from `customers`; the warehouse stores the same columns
 * in `dim_customer`. `ROW_DIGEST` is then one SQL expression over those column names, evaluated by each
 * database on its own rows, so a mapping error in the load shows up as a different digest.
 */

/** Customer ids compare byte-wise on both databases and in this code, whatever their default collation. */
export const ID_ORDER = 'customer_id COLLATE "C"';

const UTC_ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Personal attributes are dropped from an erased customer on the way out of the shard. */
const PII = (expression: string, alias: string) =>
  `CASE WHEN erased_at IS NULL THEN ${expression} END AS ${alias}`;

/**
 * A shard's `customers` row in the warehouse's shape. For the load, timestamps leave as UTC text with
 * microseconds (so the source version, `source_updated_at`, survives the trip through JSON exactly) and the
 * event count as text (it is a bigint); for the digest they keep their SQL types.
 */
export const shapedCustomerColumns = (forLoad: boolean): string => {
  const time = (column: string, alias = column) =>
    forLoad ? `${UTC_ISO(column)} AS ${alias}` : `${column} AS ${alias}`;
  return `customer_id,
  ${PII('email', 'email')}, ${PII('phone', 'phone')},
  ${PII('given_name', 'given_name')}, ${PII('family_name', 'family_name')},
  ${PII("address->>'line1'", 'address_line1')}, ${PII("address->>'line2'", 'address_line2')},
  ${PII("address->>'city'", 'address_city')}, ${PII("address->>'postalCode'", 'address_postal_code')},
  ${PII("address->>'country'", 'address_country')},
  ${time('registered_at')}, erased_at IS NOT NULL AS erased, ${time('erased_at')},
  ${forLoad ? 'event_count::text' : 'event_count'} AS event_count, ${time('last_event_at')},
  ${time('updated_at', 'source_updated_at')}`;
};

/** The text columns of the digest, in order; `NULL` is written as U+001E and fields are joined by U+001F. */
export const DIGEST_FIELDS = [
  'customer_id',
  'event_count',
  'email',
  'phone',
  'given_name',
  'family_name',
  'address_line1',
  'address_line2',
  'address_city',
  'address_postal_code',
  'address_country',
  'erased',
  'registered_at_ms',
] as const;

/**
 * md5 of one reporting row, over columns named as in `dim_customer` (registered_at as epoch milliseconds,
 * erased as `true`/`false`). Evaluated by PostgreSQL on both sides.
 */
export const ROW_DIGEST = `md5(concat_ws(chr(31), ${DIGEST_FIELDS.map((field) => {
  if (field === 'registered_at_ms') {
    return `coalesce(round(extract(epoch FROM registered_at) * 1000)::bigint::text, chr(30))`;
  }
  if (field === 'event_count') return 'event_count::text';
  if (field === 'erased') return 'erased::text';
  return `coalesce(${field}, chr(30))`;
}).join(', ')}))`;

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
