/*
 * What every store of the platform can hold, in one place: the event schema applies these rules, so
 * ingest, the consumer's decode, replay and reconciliation refuse the same values. A value that passed
 * the schema but that PostgreSQL then refused would fail a whole shard transaction instead of one record.
 */

/**
 * The earliest event time stored: PostgreSQL's `timestamptz` takes earlier ones, but ISO 8601 (the form the
 * events, the Data API and the warehouse load use) has no four-digit year before 0001, and year 0000 is
 * out of PostgreSQL's range.
 */
export const EARLIEST_EVENT_TIME = Date.parse('0001-01-01T00:00:00.000Z');
/** The latest event time stored: after it, a time in UTC needs a five-digit year (`+010000-...`). */
export const LATEST_EVENT_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** Deepest JSON nesting accepted in an event; the deepest valid event nests 3 levels (`payload.address.city`). */
export const MAX_JSON_DEPTH = 32;

/** A UTF-16 surrogate without its partner: not a Unicode character, and not storable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL cannot store `value` as `text` or inside `jsonb`, or undefined when it can: U+0000 is
 * refused by both, and a lone surrogate has no UTF-8 form (jsonb refuses its escape; a `text` parameter
 * would silently become U+FFFD).
 */
export function unstorableTextReason(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(value)) return 'must not contain a lone UTF-16 surrogate (it is not a character)';
  return undefined;
}

/** Whether an ISO 8601 time lies within what every store takes, once converted to UTC. */
export function isStorableEventTime(iso: string): boolean {
  const millis = Date.parse(iso);
  return Number.isFinite(millis) && millis >= EARLIEST_EVENT_TIME && millis <= LATEST_EVENT_TIME;
}

export const EVENT_TIME_RANGE_MESSAGE =
  'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in UTC';

/**
 * Whether a parsed JSON value nests deeper than `limit` arrays and objects. Iterative, so a hostile
 * document 10,000 levels deep costs a loop, not the call stack (as `JSON.stringify` or a recursive
 * walk would).
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item.value !== 'object' || item.value === null) continue;
    const depth = item.depth + 1;
    if (depth > limit) return true;
    for (const child of Object.values(item.value)) stack.push({ value: child, depth });
  }
  return false;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 strictly: a byte sequence that is not UTF-8 is refused instead of becoming U+FFFD, which
 * would silently corrupt names and addresses. A byte order mark is kept (JSON.parse then refuses it).
 * @returns the text, or undefined when `bytes` is not valid UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch (error: unknown) {
    // The decoder reports malformed input as a TypeError; anything else is not ours to swallow.
    if (error instanceof TypeError) return undefined;
    throw error;
  }
}
