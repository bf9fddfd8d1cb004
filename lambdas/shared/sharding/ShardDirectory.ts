import type { Logger } from '@aws-lambda-powertools/logger';
import { sqlClientFor } from '../sql/sqlClientFor.js';
import type { SqlClient } from '../sql/types.js';
import { ShardRouter } from './ShardRouter.js';
import type { ShardDescriptor, ShardMap } from './shardMap.js';
import type { ShardMapSource } from './shardMapSource.js';

/** How often {@link ShardDirectory.start} re-reads the source unless told. */
export const DEFAULT_SHARD_MAP_POLL_MILLIS = 5_000;
/**
 * How long a replaced client stays open. Longer than a statement timeout (15 s in `PG_DEFAULTS`) plus
 * the shard write policy's retries, so a transaction that picked the old client before the swap can
 * finish (or fail and be retried) on it instead of meeting a closed pool.
 */
export const DEFAULT_RETIRE_GRACE_MILLIS = 30_000;

export type ShardDirectoryLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface ShardDirectoryOptions {
  /** Builds the client of one shard: Data API for a cluster ARN, `pg` for a URL. */
  readonly clientFor?: (shard: ShardDescriptor) => SqlClient;
  /** Interval of the polling started by {@link ShardDirectory.start}. */
  readonly pollMillis?: number;
  /** How long a replaced client stays open before it is closed. */
  readonly retireGraceMillis?: number;
  /** Where repoints and refused maps are reported; nothing is logged without one. */
  readonly logger?: ShardDirectoryLogger;
}

/** What one {@link ShardDirectory.refresh} did. */
export type RefreshOutcome =
  | { readonly status: 'unchanged' }
  | { readonly status: 'repointed'; readonly shards: readonly string[] }
  | { readonly status: 'refused'; readonly reason: string };

const silent: ShardDirectoryLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The connection identity of a shard: a change of any of these needs a new client. */
const endpointOf = (shard: ShardDescriptor): string =>
  JSON.stringify([shard.url ?? null, shard.clusterArn ?? null, shard.secretArn ?? null, shard.database]);

/** Where a shard is reached, for logs: never the secret ARN or URL credentials. */
const whereIs = (shard: ShardDescriptor): string => {
  if (shard.clusterArn) return `${shard.clusterArn} (${shard.database})`;
  if (!shard.url) return '(nowhere)';
  try {
    const url = new URL(shard.url);
    return `${url.hostname}:${url.port}${url.pathname}`;
  } catch {
    return '(unparsable url)';
  }
};

/**
 * Why `next` cannot replace `current` at runtime, or undefined when it can. Moving buckets means copying
 * customers between shards first, and every running process must switch at the same moment: an offline
 * operation, never a reload.
 */
function layoutChange(current: ShardMap, next: ShardMap): string | undefined {
  if (next.bucketCount !== current.bucketCount) {
    return `bucket count changed from ${current.bucketCount} to ${next.bucketCount}`;
  }
  const ids = (map: ShardMap) => JSON.stringify(map.shards.map((s) => s.id).sort());
  if (ids(next) !== ids(current)) return `shard ids changed from ${ids(current)} to ${ids(next)}`;
  const ranges = (map: ShardMap) =>
    JSON.stringify(
      [...map.buckets].sort((a, b) => a.from - b.from).map((r) => [r.from, r.to, r.shard] as const),
    );
  if (ranges(next) !== ranges(current)) return 'bucket ranges changed';
  return undefined;
}

/**
 * The live set of shard clients of one process, following the shard map while it runs.
 *
 * `shards` is one `Map` for the life of the directory: consumers and query services get this very object
 * and look a client up per transaction, so when a shard is repointed (its primary failed and a replica
 * was promoted) the next lookup returns a client of the new endpoint, with no restart. The replaced client
 * is closed after a grace period. Only endpoints may change at runtime: a map that moves buckets or adds
 * or removes shards is refused (logged) and the current one stays in use.
 *
 * In AWS, Aurora fails over behind the cluster endpoint the Data API targets, so there is nothing to
 * repoint; the directory matters for URL-addressed shards (local runs, self-managed PostgreSQL).
 */
export class ShardDirectory {
  /** The live clients, by shard id; entries are replaced in place on a repoint. */
  public readonly shards: ReadonlyMap<string, SqlClient>;
  private readonly clients: Map<string, SqlClient>;
  private currentRouter: ShardRouter;
  private readonly clientFor: (shard: ShardDescriptor) => SqlClient;
  private readonly pollMillis: number;
  private readonly retireGraceMillis: number;
  private readonly logger: ShardDirectoryLogger;
  private readonly retiring = new Map<SqlClient, NodeJS.Timeout>();
  private poller: NodeJS.Timeout | undefined;
  /** Bumped by every start and stop, so a poll finishing after a stop never schedules another. */
  private pollGeneration = 0;
  /** Refreshes run one at a time, each loading after it was asked for. */
  private refreshes: Promise<unknown> = Promise.resolve();
  /** The last refusal logged, so a bad map sitting in the source is reported once, not on every poll. */
  private lastRefusal: string | undefined;
  private closed = false;

  private constructor(
    private readonly source: ShardMapSource,
    map: ShardMap,
    options: ShardDirectoryOptions,
  ) {
    this.clientFor = options.clientFor ?? ((shard) => sqlClientFor(shard));
    this.pollMillis = options.pollMillis ?? DEFAULT_SHARD_MAP_POLL_MILLIS;
    this.retireGraceMillis = options.retireGraceMillis ?? DEFAULT_RETIRE_GRACE_MILLIS;
    this.logger = options.logger ?? silent;
    this.currentRouter = new ShardRouter(map);
    this.clients = new Map();
    this.shards = this.clients;
    try {
      for (const shard of map.shards) this.clients.set(shard.id, this.clientFor(shard));
    } catch (error: unknown) {
      for (const client of this.clients.values()) void client.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Loads the map and creates one client per shard. Polling starts only with {@link start}.
   * @throws {InvalidShardMapError} when the source holds no valid map.
   * @throws {RangeError} when a shard names neither a cluster nor a URL (from `clientFor`).
   * @throws {Error} when the source cannot be read.
   */
  public static async open(
    source: ShardMapSource,
    options: ShardDirectoryOptions = {},
  ): Promise<ShardDirectory> {
    return new ShardDirectory(source, await source.load(), options);
  }

  /** Routes customers with the current map (its bucket layout never changes while the directory runs). */
  public get router(): ShardRouter {
    return this.currentRouter;
  }

  public get map(): ShardMap {
    return this.currentRouter.map;
  }

  /**
   * Loads the map again and repoints the shards whose endpoint (url, cluster ARN, secret ARN, database)
   * changed. Never throws: an unreadable, invalid or re-bucketed map is refused, logged once, and the
   * current map stays in use. Calls run one after another, so a call made after the source changed sees
   * the change even while a poll is under way.
   */
  public refresh(): Promise<RefreshOutcome> {
    const outcome = this.refreshes.then(() => this.reload());
    this.refreshes = outcome.catch(() => undefined);
    return outcome;
  }

  /** Re-reads the source every `pollMillis` until {@link stop}; the timer never keeps the process alive. */
  public start(): void {
    if (this.poller !== undefined || this.closed) return;
    const generation = ++this.pollGeneration;
    const tick = () => {
      void this.refresh().finally(() => {
        if (generation === this.pollGeneration) this.poller = setTimeout(tick, this.pollMillis).unref();
      });
    };
    this.poller = setTimeout(tick, this.pollMillis).unref();
  }

  /** Stops polling and waits for a refresh in progress. */
  public async stop(): Promise<void> {
    this.pollGeneration += 1;
    if (this.poller !== undefined) clearTimeout(this.poller);
    this.poller = undefined;
    await this.refreshes;
  }

  /** Stops polling and closes every client, retiring ones included; the directory cannot be used afterwards. */
  public async close(): Promise<void> {
    this.closed = true;
    await this.stop();
    const retiring = [...this.retiring.keys()];
    for (const timer of this.retiring.values()) clearTimeout(timer);
    this.retiring.clear();
    await Promise.allSettled([...retiring, ...this.clients.values()].map((client) => client.close()));
  }

  private async reload(): Promise<RefreshOutcome> {
    if (this.closed) return { status: 'unchanged' };
    let next: ShardMap;
    try {
      next = await this.source.load();
    } catch (error: unknown) {
      return this.refuse(`shard map of ${this.source.description} unreadable: ${describeError(error)}`);
    }
    const change = layoutChange(this.map, next);
    if (change !== undefined) {
      return this.refuse(`${change}; a re-bucketed map needs an offline migration, keeping the current one`);
    }
    const moved = next.shards.filter((shard) => {
      const current = this.currentRouter.shard(shard.id);
      return current === undefined || endpointOf(current) !== endpointOf(shard);
    });
    // Build every new client before swapping any, so a map that cannot be served is refused as a whole.
    const replacements: Array<{ shard: ShardDescriptor; client: SqlClient }> = [];
    try {
      for (const shard of moved) replacements.push({ shard, client: this.clientFor(shard) });
    } catch (error: unknown) {
      await Promise.allSettled(replacements.map((r) => r.client.close()));
      return this.refuse(`cannot build a client for the new map: ${describeError(error)}`);
    }
    this.lastRefusal = undefined;
    if (replacements.length === 0) return { status: 'unchanged' };
    const previous = this.currentRouter;
    this.currentRouter = new ShardRouter(next);
    for (const { shard, client } of replacements) {
      const old = this.clients.get(shard.id);
      this.clients.set(shard.id, client);
      if (old !== undefined) this.retire(old);
      const from = previous.shard(shard.id);
      this.logger.warn('shard repointed', {
        shard: shard.id,
        from: from === undefined ? undefined : whereIs(from),
        to: whereIs(shard),
        retireGraceMillis: this.retireGraceMillis,
      });
    }
    return { status: 'repointed', shards: replacements.map((r) => r.shard.id) };
  }

  private refuse(reason: string): RefreshOutcome {
    if (reason !== this.lastRefusal) {
      this.logger.error('shard map refused; still serving the current one', {
        source: this.source.description,
        reason,
      });
      this.lastRefusal = reason;
    }
    return { status: 'refused', reason };
  }

  private retire(client: SqlClient): void {
    const timer = setTimeout(() => {
      this.retiring.delete(client);
      client.close().catch((error: unknown) => {
        this.logger.warn('closing a replaced shard client failed', {
          client: client.name,
          error,
        });
      });
    }, this.retireGraceMillis).unref();
    this.retiring.set(client, timer);
  }
}
