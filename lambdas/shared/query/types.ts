import type { Address } from '../customers/attributes.js';

/**
 * A customer as the query API shows it. An erased customer (erased, and nothing recorded since) keeps
 * only its id and `erased: true`: every personal field is null, `registeredAt` included. Erased customers
 * have no email or phone left, so look-ups by email or phone never find them.
 */
export interface Customer {
  readonly customerId: string;
  /** Lower-case. */
  readonly email: string | null;
  /** E.164. */
  readonly phone: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly address: Address | null;
  /** ISO 8601 (UTC) of the first registration; null when only later facts have arrived so far. */
  readonly registeredAt: string | null;
  readonly erased: boolean;
}

/** The read operations the API needs; implemented by `CustomerQueryService`. */
export interface CustomerQueries {
  /**
   * @throws {ShardUnavailableError} when the customer's shard cannot be asked.
   */
  getById(customerId: string): Promise<Customer | null>;
  /**
   * @throws {ShardUnavailableError} when a shard that might hold the answer cannot be asked.
   * @throws {OverloadedError} when the fallback path is full.
   */
  findByEmail(email: string): Promise<Customer | null>;
  /**
   * @throws {ShardUnavailableError} when a shard that might hold the answer cannot be asked.
   * @throws {OverloadedError} when the fallback path is full.
   */
  findByPhone(phone: string): Promise<Customer | null>;
}

/** The global keys a customer can be found by. */
export type LookupKind = 'email' | 'phone';

/** Counters of one service instance since it was created (drills, tests, progress displays). */
export interface QueryStats {
  /** Look-ups answered through the Redis index (hits and misses). */
  readonly indexLookups: number;
  readonly indexMisses: number;
  /** Index entries that pointed at a customer who no longer has that email or phone (then repaired). */
  readonly staleIndexEntries: number;
  /** Look-ups that went to the fallback path (cache, then scatter-gather). */
  readonly fallbackLookups: number;
  /** Of those, answered by the fallback cache. */
  readonly fallbackCacheHits: number;
  readonly fallbackCacheMisses: number;
  readonly fallbackCacheExpired: number;
  /** Of those, joined a scatter-gather already running for the same key. */
  readonly fallbackCoalesced: number;
  /** Scatter-gathers run against the shards. */
  readonly scatterGathers: number;
  /** Look-ups shed by the fallback bulkhead (`OverloadedError`). */
  readonly fallbackRejected: number;
  /** The fallback bulkhead's bound, and the most scatter-gathers seen in flight at once. */
  readonly fallbackConcurrencyLimit: number;
  readonly maxConcurrentFallbacks: number;
  /** Fallback queries sent to each shard (every attempt counts), and the most in flight at once. */
  readonly fallbackQueriesPerShard: Readonly<Record<string, number>>;
  readonly maxConcurrentFallbackQueriesPerShard: Readonly<Record<string, number>>;
  /** Index entries written through to Redis, and those waiting for Redis to come back. */
  readonly writtenThrough: number;
  readonly pendingWriteThrough: number;
  /** Whether global look-ups currently bypass Redis. */
  readonly fallbackMode: boolean;
}
