import type { SqlParameter } from '@aws-sdk/client-rds-data';
import { SqlJson, type SqlParams, type SqlRow, type SqlValue } from './types.js';

/**
 * `Date` → the only timestamp text the Data API accepts (`YYYY-MM-DD HH:MM:SS.sss`), in UTC. The value
 * reaches PostgreSQL as `timestamp` (no zone); it lands exactly in a `timestamptz` column because Aurora
 * sessions run in UTC unless the cluster's `timezone` parameter is changed.
 */
const toDataApiTimestamp = (name: string, date: Date): string => {
  const iso = Number.isNaN(date.getTime()) ? '' : date.toISOString();
  // Extended years (`+275760-…`) and invalid dates have no representation in that format.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(iso)) {
    throw new RangeError(`SQL parameter :${name} is not a date between years 0000 and 9999`);
  }
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
};

const toJsonText = (name: string, value: unknown): string | undefined => {
  try {
    return JSON.stringify(value);
  } catch (error: unknown) {
    // Cycles and bigints inside the document: a programming error, reported against the parameter.
    throw new TypeError(`SQL parameter :${name} cannot be serialised as JSON`, { cause: error });
  }
};

const toSqlParameter = (name: string, value: SqlValue | undefined): SqlParameter => {
  if (value === null || value === undefined) return { name, value: { isNull: true } };
  if (typeof value === 'string') return { name, value: { stringValue: value } };
  if (typeof value === 'boolean') return { name, value: { booleanValue: value } };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new RangeError(`SQL parameter :${name} is ${value}, not a finite number`);
    }
    // Integers beyond 2^53 are no longer exact in a JS number; sending them as doubles says so honestly.
    if (Number.isSafeInteger(value)) return { name, value: { longValue: value } };
    return { name, value: { doubleValue: value } };
  }
  // The SDK types `longValue` as a JS number, so a bigint cannot travel as a long without losing digits.
  if (typeof value === 'bigint') return { name, value: { stringValue: value.toString() } };
  if (value instanceof Date) {
    return { name, value: { stringValue: toDataApiTimestamp(name, value) }, typeHint: 'TIMESTAMP' };
  }
  if (value instanceof SqlJson) {
    const text = toJsonText(name, value.value);
    if (text === undefined) return { name, value: { isNull: true } };
    return { name, value: { stringValue: text }, typeHint: 'JSON' };
  }
  throw new TypeError(`SQL parameter :${name} has an unsupported type`);
};

/**
 * Marshals named parameters into Data API `SqlParameter`s.
 *
 * Strings are sent untyped, so PostgreSQL sees `varchar`: the SQL casts what must be another type
 * (`:id::uuid`, `:n::bigint`). `bigint` travels as a string for the same reason and needs the same cast.
 * `null` and `undefined` become SQL NULL; `Date` a UTC `TIMESTAMP`; `SqlJson` `JSON` text.
 *
 * @throws {RangeError} for NaN, ±Infinity or a date the Data API cannot represent, naming the parameter.
 * @throws {TypeError} for a value of no supported type or a JSON document that cannot be serialised.
 */
export function toSqlParameters(params: SqlParams): SqlParameter[] {
  return Object.entries(params).map(([name, value]) => toSqlParameter(name, value));
}

/** Integer literals too long to be exact as JS numbers: worth the slower, digit-preserving parse. */
const MAYBE_UNSAFE_INTEGER = /\d{16}/;
const NUMBER_TOKEN = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Quotes integer literals beyond 2^53 so `JSON.parse` keeps their digits (as strings, like `pg` does
 * for `int8`). String literals are skipped whole, so digits inside them are never touched.
 */
const quoteUnsafeIntegers = (json: string): string => {
  let out = '';
  let i = 0;
  while (i < json.length) {
    const ch = json[i];
    if (ch === '"') {
      let end = i + 1;
      while (end < json.length && json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      out += json.slice(i, end + 1);
      i = end + 1;
    } else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) {
      NUMBER_TOKEN.lastIndex = i;
      const token = NUMBER_TOKEN.exec(json)?.[0] ?? ch;
      const unsafe = /^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token));
      out += unsafe ? `"${token}"` : token;
      i += token.length;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
};

const isRow = (value: unknown): value is SqlRow =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses `formattedRecords` (a JSON array with one object per row, keyed by column label). Absent or
 * empty means no result set (DML without `RETURNING`). Integers beyond 2^53 come back as strings.
 *
 * @throws {SyntaxError} when the text is not JSON.
 * @throws {TypeError} when it is JSON but not an array of objects.
 */
export function fromFormattedRecords(json: string | undefined): SqlRow[] {
  if (json === undefined || json === '') return [];
  const parsed: unknown = JSON.parse(MAYBE_UNSAFE_INTEGER.test(json) ? quoteUnsafeIntegers(json) : json);
  if (!Array.isArray(parsed) || !parsed.every(isRow)) {
    throw new TypeError('formattedRecords is not a JSON array of row objects');
  }
  return parsed;
}
