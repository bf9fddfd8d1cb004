import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { IPolicy } from 'cockatiel';
import { CONSUMER_METRIC_NAMES } from '../contracts/index.js';
import type { IndexEntry } from '../customers/applyEventsToShard.js';
import { CustomerIndex } from '../index/CustomerIndex.js';
import { rebuildIndexStep } from '../index/rebuildIndex.js';
import { type RedisClient, untilDeadline } from '../redis/createRedisClient.js';
import type { SqlClient } from '../sql/index.js';
import { clearIndexOutbox, drainIndexOutbox } from './indexOutbox.js';

export interface IndexMaintainerOptions {
  /** Whether Redis is configured at all; without it there is no index to keep. */
  readonly configured: boolean;
  readonly shards: ReadonlyMap<string, SqlClient>;
  /** The breaker around index writes (see `redisPolicy`). */
  readonly breaker: IPolicy;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly outboxDrainLimit: number;
  readonly rebuildPageSize: number;
}

/**
 * Keeps the Redis index in step with the shards: writes the entries of each commit, clears them from the
 * shard outboxes once written, and after any failure (and at cold start) repairs until nothing is left.
 */
export class IndexMaintainer {
  /** True until a repair pass found the index complete and every outbox empty. */
  private repairPending = true;
  private repairing: Promise<boolean> | undefined;

  public constructor(private readonly options: IndexMaintainerOptions) {}

  /** Index updates after commit; whatever fails stays in the shard outbox for a later repair. */
  public async afterCommit(
    entries: ReadonlyMap<string, IndexEntry[]>,
    redis: RedisClient | undefined,
    deadline: AbortSignal,
  ): Promise<void> {
    if (!this.options.configured) return;
    if (redis === undefined || deadline.aborted) {
      // Redis is away or already too slow for this invocation: the entries stay in the outbox.
      this.repairPending = true;
      return;
    }
    const index = new CustomerIndex(redis);
    let failures = 0;
    await Promise.all(
      [...entries].map(async ([shardId, list]) => {
        if (list.length === 0) return;
        const client = this.options.shards.get(shardId);
        if (client === undefined) return;
        try {
          await this.options.breaker.execute(() => untilDeadline(index.update(list), deadline));
          await clearIndexOutbox(client, list);
        } catch (error: unknown) {
          failures += list.length;
          this.options.logger.warn('index update deferred to the outbox', {
            shard: shardId,
            error,
          });
        }
      }),
    );
    if (failures > 0) {
      this.options.metrics.addMetric(CONSUMER_METRIC_NAMES.indexUpdatesDeferred, MetricUnit.Count, failures);
      this.repairPending = true;
    } else if (this.repairPending) {
      // The repair may outlive this invocation's deadline (it is shared and goes on in the background).
      this.repairPending = !(await untilDeadline(this.repair(redis), deadline).catch(() => false));
    }
  }

  /**
   * Heals the index by itself: replays every shard's outbox (changes Redis missed while unreachable) and,
   * when Redis lost its data, takes one bounded step of the rebuild from the shards. Runs after an index
   * failure (and at cold start) until a pass finds nothing left to do.
   * @returns whether the index is complete and every outbox drained.
   */
  public repair(redis: RedisClient | undefined): Promise<boolean> {
    // Concurrent invocations in one process share one repair instead of racing each other.
    this.repairing ??= this.repairOnce(redis).finally(() => {
      this.repairing = undefined;
    });
    return this.repairing;
  }

  private async repairOnce(redis: RedisClient | undefined): Promise<boolean> {
    if (redis === undefined) return !this.options.configured;
    if (!redis.isReady) return false;
    const index = new CustomerIndex(redis);
    let complete = true;
    try {
      const rebuild = await this.options.breaker.execute(() =>
        rebuildIndexStep(index, this.options.shards, this.options.rebuildPageSize),
      );
      if (!rebuild.complete) complete = false;
      if (rebuild.written > 0) {
        this.options.metrics.addMetric(
          CONSUMER_METRIC_NAMES.indexEntriesRebuilt,
          MetricUnit.Count,
          rebuild.written,
        );
        this.options.logger.info('index rebuild step', {
          written: rebuild.written,
          complete: rebuild.complete,
        });
      }
    } catch (error: unknown) {
      complete = false;
      this.options.logger.warn('index rebuild postponed', { error });
    }
    for (const [shardId, client] of this.options.shards) {
      try {
        const repaired = await drainIndexOutbox(
          client,
          (list) => this.options.breaker.execute(() => index.update(list)),
          {
            limit: this.options.outboxDrainLimit,
          },
        );
        if (repaired.remaining) complete = false;
        if (repaired.count > 0) {
          this.options.metrics.addMetric(
            CONSUMER_METRIC_NAMES.indexEntriesRepaired,
            MetricUnit.Count,
            repaired.count,
          );
          this.options.logger.info('index entries repaired from the outbox', {
            shard: shardId,
            count: repaired.count,
          });
        }
      } catch (error: unknown) {
        complete = false;
        this.options.logger.warn('index repair postponed', { shard: shardId, error });
      }
    }
    return complete;
  }
}
