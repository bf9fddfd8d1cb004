// Over 300 lines on purpose: one lookup path (index, verified fallback cache, scatter-gather, repair) whose
// steps share the mode, the counters and the in-flight scans; the policies and adapters live beside it.
import { setMaxListeners } from 'node:events';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type BulkheadPolicy, BulkheadRejectedError } from 'cockatiel';
import { QUERY_METRIC_NAMES } from '../contracts/index.js';
import type { RedisClient } from '../redis/createRedisClient.js';
import { type QuerySettings, querySettings } from '../resilience/defaults.js';
import { fallbackBulkhead } from '../resilience/named.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { holds, type StoredCustomer } from './customerRows.js';
import { OverloadedError } from './errors.js';
import { FallbackCache } from './FallbackCache.js';
import { GuardedIndex } from './GuardedIndex.js';
import { IndexWriteThrough } from './IndexWriteThrough.js';
import { SHARD_QUERY_LATENCY_METRIC, ShardReader } from './ShardReader.js';
import type { Customer, CustomerQueries, LookupKind, QueryStats } from './types.js';

/** Metric names (Powertools, the caller's namespace). `ShardQueryLatency` carries the `shard` dimension. */
export const QUERY_METRICS = {
  ...QUERY_METRIC_NAMES,
  shardQueryLatency: SHARD_QUERY_LATENCY_METRIC,
} as const;

export interface CustomerQueryDependencies {
  readonly router: ShardRouter;
  /**
   * One SQL client per shard id. Looked up on every attempt, never kept: a failover watcher may replace a
   * shard's client at any time.
   */
  readonly shards: ReadonlyMap<string, SqlClient>;
  /** The global index. Absent means every global look-up scans the shards. */
  readonly redis?: RedisClient | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<QuerySettings>;
  /** Clock of the fallback cache (epoch ms). */
  readonly now?: () => number;
}

type Counter =
  | 'indexLookups'
  | 'indexMisses'
  | 'staleIndexEntries'
  | 'fallbackLookups'
  | 'fallbackCacheHits'
  | 'fallbackCoalesced'
  | 'scatterGathers'
  | 'fallbackRejected';

/**
 * Reads customers from the shards, by id (one shard) or by email or phone (global).
 *
 * Global look-ups ask the Redis index for the customer id, then read that customer from its shard, which
 * stays the source of truth: an entry whose customer no longer holds the value is stale, and is repaired
 * after the look-up is answered another way. An index miss is an answer only once the index is complete;
 * while it is (re)built, misses are looked up in the shards and written through.
 *
 * When Redis is down, slow or its breaker open, global look-ups fall back to asking every shard in
 * parallel, bounded by a bulkhead that sheds the excess with `OverloadedError`. Their answers are kept in
 * a time-bound cache and written to the index once Redis is healthy again. A scan that finds nobody while
 * a shard could not be asked fails with `ShardUnavailableError`: an outage is never reported as "not
 * found".
 *
 * In Lambda an execution environment serves one request at a time, so the bulkhead and the cache are per
 * environment; the fleet-wide bound on fallback load is the function's reserved concurrency.
 */
export class CustomerQueryService implements CustomerQueries {
  private readonly settings: QuerySettings;
  private readonly shards: ShardReader;
  private readonly index: GuardedIndex | undefined;
  private readonly writeThrough: IndexWriteThrough | undefined;
  private readonly fallbackSlots: BulkheadPolicy;
  private readonly cache: FallbackCache<string>;
  /** Scans in progress by key: concurrent look-ups of one key share one scan. */
  private readonly scans = new Map<string, Promise<StoredCustomer | null>>();
  private bypassing: boolean;
  private scansInFlight = 0;
  private maxScansInFlight = 0;
  private readonly counters: Record<Counter, number> = {
    indexLookups: 0,
    indexMisses: 0,
    staleIndexEntries: 0,
    fallbackLookups: 0,
    fallbackCacheHits: 0,
    fallbackCoalesced: 0,
    scatterGathers: 0,
    fallbackRejected: 0,
  };

  public constructor(private readonly deps: CustomerQueryDependencies) {
    this.settings = querySettings(deps.settings);
    // Every timeout listens to the signal it is given; without one, concurrent look-ups would all listen to
    // one shared signal, which warns beyond ten listeners.
    const signal = new AbortController().signal;
    setMaxListeners(0, signal);
    this.shards = new ShardReader({ ...deps, settings: this.settings, signal });
    this.index = deps.redis === undefined ? undefined : new GuardedIndex(deps.redis, this.settings, signal);
    this.writeThrough =
      this.index === undefined
        ? undefined
        : new IndexWriteThrough(this.index, {
            logger: deps.logger,
            maxPending: this.settings.fallbackCacheMaxEntries,
            batchSize: this.settings.writeThroughBatchSize,
          });
    this.bypassing = this.index === undefined;
    this.fallbackSlots = fallbackBulkhead(this.settings);
    this.cache = new FallbackCache({
      ttlMillis: this.settings.fallbackCacheTtlMillis,
      negativeTtlMillis: this.settings.fallbackCacheNegativeTtlMillis,
      maxEntries: this.settings.fallbackCacheMaxEntries,
      now: deps.now ?? Date.now,
    });
  }

  /** @throws {ShardUnavailableError} when the customer's shard cannot be asked. */
  public async getById(customerId: string): Promise<Customer | null> {
    return (await this.shards.readById(customerId))?.customer ?? null;
  }

  /**
   * @throws {ShardUnavailableError} when a shard that might hold the answer cannot be asked.
   * @throws {OverloadedError} when the fallback path is full.
   */
  public findByEmail(email: string): Promise<Customer | null> {
    return this.findBy('email', email.toLowerCase());
  }

  /**
   * @throws {ShardUnavailableError} when a shard that might hold the answer cannot be asked.
   * @throws {OverloadedError} when the fallback path is full.
   */
  public findByPhone(phone: string): Promise<Customer | null> {
    return this.findBy('phone', phone);
  }

  /**
   * Writes the index entries found while Redis was unusable, if it is usable now. Look-ups start this by
   * themselves once Redis is back.
   * @returns the entries written.
   */
  public flushWriteThrough(): Promise<number> {
    return this.writeThrough?.flush() ?? Promise.resolve(0);
  }

  /** Resolves once background work (the write-through of pending entries) has finished. */
  public async idle(): Promise<void> {
    await this.writeThrough?.idle();
  }

  public stats(): QueryStats {
    const cache = this.cache.stats();
    const tallies = this.shards.scanTallies();
    return {
      ...this.counters,
      fallbackCacheMisses: cache.misses,
      fallbackCacheExpired: cache.expired,
      fallbackConcurrencyLimit: this.settings.fallbackMaxConcurrent,
      maxConcurrentFallbacks: this.maxScansInFlight,
      fallbackQueriesPerShard: tallies.queries,
      maxConcurrentFallbackQueriesPerShard: tallies.maxInFlight,
      writtenThrough: this.writeThrough?.written ?? 0,
      pendingWriteThrough: this.writeThrough?.pendingCount ?? 0,
      fallbackMode: this.bypassing,
    };
  }

  private async findBy(kind: LookupKind, value: string): Promise<Customer | null> {
    const index = this.index?.usable() === true ? this.index : undefined;
    // undefined: the index could not be used (not connected, breaker open, failing or slow).
    const viaIndex = index === undefined ? undefined : await this.viaIndex(index, kind, value);
    this.noteMode(viaIndex === undefined);
    if (viaIndex === undefined) return (await this.fallback(kind, value))?.customer ?? null;
    if ((this.writeThrough?.pendingCount ?? 0) > 0) void this.flushWriteThrough();
    return viaIndex?.customer ?? null;
  }

  /**
   * The index's answer, read back from the customer's shard; undefined when Redis could not answer.
   * @throws {ShardUnavailableError} when the indexed customer's shard cannot be asked.
   */
  private async viaIndex(
    index: GuardedIndex,
    kind: LookupKind,
    value: string,
  ): Promise<StoredCustomer | null | undefined> {
    let customerId: string | null;
    let complete = true;
    try {
      customerId = await index.run((i) => (kind === 'email' ? i.findByEmail(value) : i.findByPhone(value)));
      // An index still being built (or rebuilt after Redis lost its data) does not know every customer.
      if (customerId === null) complete = await index.run((i) => i.isComplete());
    } catch (error: unknown) {
      this.deps.logger.debug('index unusable; scanning the shards', { error });
      return undefined;
    }
    this.count('indexLookups', QUERY_METRICS.indexLookups);
    if (customerId === null) {
      this.count('indexMisses', QUERY_METRICS.indexMisses);
      return complete ? null : this.fallback(kind, value);
    }
    const stored = await this.shards.readById(customerId);
    if (stored !== null && holds(stored, kind, value)) return stored;
    this.counters.staleIndexEntries += 1;
    this.deps.logger.info('stale index entry; answering from the shards and repairing it', {
      kind,
      customerId,
    });
    const found = await this.fallback(kind, value);
    await this.repairStale(index, kind, value, customerId, stored);
    return found;
  }

  /** The fallback path: the time-bound cache, else one scan of the shards per key at a time. */
  private async fallback(kind: LookupKind, value: string): Promise<StoredCustomer | null> {
    this.count('fallbackLookups', QUERY_METRICS.fallbackLookups);
    const key = `${kind}:${value}`;
    const cached = this.cache.get(key);
    if (cached.status === 'hit') {
      const verified = await this.verifyCached(kind, value, cached.value);
      if (verified !== undefined) {
        this.count('fallbackCacheHits', QUERY_METRICS.fallbackCacheHits);
        return verified;
      }
      this.cache.delete(key);
    }
    const running = this.scans.get(key);
    if (running !== undefined) {
      this.counters.fallbackCoalesced += 1;
      return running;
    }
    const scan = this.scatterGather(kind, value, key).finally(() => this.scans.delete(key));
    this.scans.set(key, scan);
    return scan;
  }

  /** A cached id is read again from its shard, so a change or an erasure is never served late. */
  private async verifyCached(
    kind: LookupKind,
    value: string,
    customerId: string | null,
  ): Promise<StoredCustomer | null | undefined> {
    if (customerId === null) return null;
    const stored = await this.shards.readById(customerId);
    return stored !== null && holds(stored, kind, value) ? stored : undefined;
  }

  private async scatterGather(kind: LookupKind, value: string, key: string): Promise<StoredCustomer | null> {
    let found: StoredCustomer | null;
    try {
      found = await this.fallbackSlots.execute(() => this.scan(kind, value));
    } catch (error: unknown) {
      if (!(error instanceof BulkheadRejectedError)) throw error;
      this.count('fallbackRejected', QUERY_METRICS.fallbackRejected);
      const { fallbackMaxConcurrent: limit, fallbackMaxQueued: queue } = this.settings;
      throw new OverloadedError(
        'too many fallback look-ups in flight',
        this.settings.overloadRetryAfterSeconds,
        {
          cause: error,
          context: { kind, limit, queue },
        },
      );
    }
    this.cache.set(key, found?.entry.customerId ?? null);
    if (found !== null) await this.writeThrough?.write([found.entry]);
    return found;
  }

  private async scan(kind: LookupKind, value: string): Promise<StoredCustomer | null> {
    this.counters.scatterGathers += 1;
    this.scansInFlight += 1;
    this.maxScansInFlight = Math.max(this.maxScansInFlight, this.scansInFlight);
    try {
      return await this.shards.scan(kind, value);
    } finally {
      this.scansInFlight -= 1;
    }
  }

  /** Records whether this global look-up bypassed Redis; logs each switch of mode. */
  private noteMode(bypassed: boolean): void {
    this.deps.metrics.addMetric(QUERY_METRICS.fallbackMode, MetricUnit.Count, bypassed ? 1 : 0);
    if (bypassed === this.bypassing || this.index === undefined) return;
    this.bypassing = bypassed;
    if (bypassed) {
      this.deps.logger.warn('Redis index bypassed; global look-ups scan the shards', {
        ready: this.index.isReady,
        breaker: this.index.breakerState,
      });
    } else {
      this.deps.logger.info('Redis index in use again');
    }
  }

  /** Best effort: what cannot be repaired now is repaired by the next look-up or the rebuild. */
  private async repairStale(
    index: GuardedIndex,
    kind: LookupKind,
    value: string,
    customerId: string,
    stored: StoredCustomer | null,
  ): Promise<void> {
    try {
      await index.run(async (i) => {
        if (stored !== null) await i.update([stored.entry]);
        await i.dropStale(kind, value, customerId, stored?.entry.eventCount ?? 0);
      });
    } catch (error: unknown) {
      this.deps.logger.warn('stale index entry not repaired', {
        kind,
        customerId,
        error,
      });
    }
  }

  private count(counter: Counter, metric: string): void {
    this.counters[counter] += 1;
    this.deps.metrics.addMetric(metric, MetricUnit.Count, 1);
  }
}
