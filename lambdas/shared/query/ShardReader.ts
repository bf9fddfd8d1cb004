import { performance } from 'node:perf_hooks';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  TaskCancelledError,
} from 'cockatiel';
import { QUERY_METRIC_NAMES } from '../contracts/index.js';
import { isRetriable } from '../errors.js';
import type { QuerySettings } from '../resilience/defaults.js';
import { type ShardReadPolicy, shardReadPolicy } from '../resilience/named.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { findCustomer, latestHolder, readCustomer, type StoredCustomer } from './customerRows.js';
import { ShardUnavailableError } from './errors.js';
import type { LookupKind } from './types.js';

/** Per-shard latency of every read attempt (Milliseconds, dimension `shard`). */
export const SHARD_QUERY_LATENCY_METRIC = QUERY_METRIC_NAMES.shardQueryLatency;

export interface ShardReaderDependencies {
  readonly router: ShardRouter;
  /** Looked up on every attempt, never kept: a failover watcher may replace a shard's client at any time. */
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly metrics: Metrics;
  readonly settings: QuerySettings;
  /** Passed to every policy (see `CustomerQueryService`). */
  readonly signal: AbortSignal;
}

/** Scan queries sent to each shard (every attempt counts), and the most in flight at once. */
export interface ScanTallies {
  readonly queries: Readonly<Record<string, number>>;
  readonly maxInFlight: Readonly<Record<string, number>>;
}

interface Tally {
  queries: number;
  inFlight: number;
  maxInFlight: number;
}

/**
 * Reads customers from the shards, each shard through its own policies (see `shardReadPolicy`). A client
 * that replaced a shard's client gets fresh policies: it replaced what was failing.
 */
export class ShardReader {
  private readonly policies = new Map<
    string,
    { readonly client: SqlClient; readonly read: ShardReadPolicy }
  >();
  private readonly tallies = new Map<string, Tally>();
  private readonly latency = new Map<string, Metrics>();

  public constructor(private readonly deps: ShardReaderDependencies) {
    for (const shard of deps.router.shards)
      this.tallies.set(shard.id, { queries: 0, inFlight: 0, maxInFlight: 0 });
  }

  /** @throws {ShardUnavailableError} when the customer's shard cannot be asked. */
  public readById(customerId: string): Promise<StoredCustomer | null> {
    const shardId = this.deps.router.shardFor(customerId).id;
    return this.onShard(shardId, false, (client) => readCustomer(client, customerId));
  }

  /**
   * Asks every shard in parallel who holds the email or phone. Shards that cannot be asked are tolerated
   * when another one has the answer (values are unique in practice, so the answer is the same).
   * @throws {ShardUnavailableError} when nobody was found but some shard could not be asked: the customer
   *   may be there, so "not found" would be a lie.
   */
  public async scan(kind: LookupKind, value: string): Promise<StoredCustomer | null> {
    const settled = await Promise.allSettled(
      this.deps.router.shards.map((s) =>
        this.onShard(s.id, true, (client) => findCustomer(client, kind, value)),
      ),
    );
    const found: StoredCustomer[] = [];
    const unavailable: ShardUnavailableError[] = [];
    for (const result of settled) {
      if (result.status === 'fulfilled') {
        if (result.value !== null) found.push(result.value);
      } else if (result.reason instanceof ShardUnavailableError) {
        unavailable.push(result.reason);
      } else {
        throw result.reason;
      }
    }
    const holder = latestHolder(found);
    if (holder !== null || unavailable.length === 0) return holder;
    throw ShardUnavailableError.combine(unavailable);
  }

  public scanTallies(): ScanTallies {
    const perShard = (pick: (t: Tally) => number) =>
      Object.fromEntries([...this.tallies].map(([id, t]) => [id, pick(t)]));
    return { queries: perShard((t) => t.queries), maxInFlight: perShard((t) => t.maxInFlight) };
  }

  /** @throws {ShardUnavailableError} when the shard is skipped, times out, is saturated or keeps failing. */
  private async onShard<T>(
    shardId: string,
    scan: boolean,
    work: (client: SqlClient) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.policyOf(shardId).policy.execute(
        () => this.attempt(shardId, scan, work),
        this.deps.signal,
      );
    } catch (error: unknown) {
      throw shardUnavailability(shardId, error, this.deps.settings);
    }
  }

  private async attempt<T>(
    shardId: string,
    scan: boolean,
    work: (client: SqlClient) => Promise<T>,
  ): Promise<T> {
    const client = this.clientOf(shardId);
    const tally = scan ? this.tallies.get(shardId) : undefined;
    if (tally !== undefined) {
      tally.queries += 1;
      tally.inFlight += 1;
      tally.maxInFlight = Math.max(tally.maxInFlight, tally.inFlight);
    }
    const started = performance.now();
    try {
      return await work(client);
    } finally {
      // Counted until the database answers, even past the caller's timeout: this is the real load.
      if (tally !== undefined) tally.inFlight -= 1;
      this.latencyOf(shardId).addMetric(
        SHARD_QUERY_LATENCY_METRIC,
        MetricUnit.Milliseconds,
        performance.now() - started,
      );
    }
  }

  /**
   * One single-metric emitter per shard, made once: its `shard` dimension is a default dimension, which
   * survives each immediate publish (building an emitter per query would cost more than the query).
   */
  private latencyOf(shardId: string): Metrics {
    let emitter = this.latency.get(shardId);
    if (emitter === undefined) {
      emitter = this.deps.metrics.singleMetric();
      emitter.setDefaultDimensions({ shard: shardId });
      this.latency.set(shardId, emitter);
    }
    return emitter;
  }

  private clientOf(shardId: string): SqlClient {
    const client = this.deps.shards.get(shardId);
    if (client === undefined) throw new RangeError(`no SQL client for ${shardId}`);
    return client;
  }

  private policyOf(shardId: string): ShardReadPolicy {
    const client = this.clientOf(shardId);
    const current = this.policies.get(shardId);
    if (current !== undefined && current.client === client) return current.read;
    const read = shardReadPolicy(this.deps.settings);
    this.policies.set(shardId, { client, read });
    return read;
  }
}

/**
 * Translates what a shard's policy threw into `ShardUnavailableError`, or returns the error unchanged
 * when it is not about availability (a bug, a statement the database rejects).
 */
function shardUnavailability(shardId: string, error: unknown, settings: QuerySettings): unknown {
  if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
    const wait = Math.ceil(settings.shardBreakerHalfOpenAfterMillis / 1000);
    return new ShardUnavailableError([shardId], 'circuit-open', Math.max(1, wait), { cause: error });
  }
  if (error instanceof TaskCancelledError) {
    return new ShardUnavailableError([shardId], 'timeout', 1, { cause: error });
  }
  if (error instanceof BulkheadRejectedError) {
    return new ShardUnavailableError([shardId], 'saturated', 1, { cause: error });
  }
  if (isRetriable(error)) return new ShardUnavailableError([shardId], 'unreachable', 1, { cause: error });
  return error;
}
