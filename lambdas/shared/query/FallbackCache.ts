export interface FallbackCacheOptions {
  /** How long a found value is served. */
  readonly ttlMillis: number;
  /** How long "not found" is served; shorter, because a new customer must not stay invisible long. */
  readonly negativeTtlMillis: number;
  /** Least recently used entries are dropped beyond this. */
  readonly maxEntries: number;
  readonly now: () => number;
}

export type CacheLookup<V> =
  | { readonly status: 'hit'; readonly value: V | null }
  | { readonly status: 'miss' }
  | { readonly status: 'expired' };

export interface FallbackCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly expired: number;
  readonly evicted: number;
  readonly size: number;
}

interface Entry<V> {
  readonly value: V | null;
  readonly expiresAt: number;
}

/**
 * A small time-bound, size-bound cache for the answers of scatter-gather look-ups while the index is
 * away. Values are ids, not customer records: a hit is still read from the customer's shard, so an
 * erasure or a change is never served from here.
 */
export class FallbackCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private hits = 0;
  private misses = 0;
  private expired = 0;
  private evicted = 0;

  public constructor(private readonly options: FallbackCacheOptions) {
    if (options.maxEntries < 1) throw new RangeError('maxEntries must be at least 1');
  }

  public get(key: string): CacheLookup<V> {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.misses += 1;
      return { status: 'miss' };
    }
    this.entries.delete(key);
    if (entry.expiresAt <= this.options.now()) {
      this.expired += 1;
      return { status: 'expired' };
    }
    // Re-inserted to mark it most recently used (a Map iterates in insertion order).
    this.entries.set(key, entry);
    this.hits += 1;
    return { status: 'hit', value: entry.value };
  }

  /** Stores a value, or `null` for "not found" (kept for the shorter negative TTL). */
  public set(key: string, value: V | null): void {
    const ttl = value === null ? this.options.negativeTtlMillis : this.options.ttlMillis;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.options.now() + ttl });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
      this.evicted += 1;
    }
  }

  public delete(key: string): void {
    this.entries.delete(key);
  }

  public get size(): number {
    return this.entries.size;
  }

  public stats(): FallbackCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      expired: this.expired,
      evicted: this.evicted,
      size: this.entries.size,
    };
  }
}
