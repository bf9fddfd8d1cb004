import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { BrokenCircuitError, type IPolicy } from 'cockatiel';
import { applyEventsToShard, type IndexEntry, type PendingEvent } from '../customers/applyEventsToShard.js';
import type { ResilienceSettings } from '../resilience/defaults.js';
import { shardWritePolicy } from '../resilience/named.js';
import type { ShardRouter } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { countBreakerOpened, recordShardTransactionLatency } from './consumerMetrics.js';
import { ShardUnavailableError } from './errors.js';
import { applyIsolatingRejections } from './isolateRejections.js';
import type { EventOutcome } from './outcomes.js';

export interface ShardWriterDependencies {
  readonly router: ShardRouter;
  /** One SQL client per shard id of the router's map, looked up per transaction (it may be repointed). */
  readonly shards: ReadonlyMap<string, SqlClient>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings: ResilienceSettings;
}

/** A shard's write policy and the client it guards. */
interface GuardedClient {
  readonly client: SqlClient;
  readonly policy: IPolicy;
}

/**
 * Writes events to their shard, one transaction per call, each shard through its own write policy
 * (a circuit breaker per client: a repointed shard gets a fresh breaker).
 */
export class ShardWriter {
  private readonly policies = new Map<string, GuardedClient>();

  /** @throws RangeError when a shard of the router has no SQL client. */
  public constructor(private readonly deps: ShardWriterDependencies) {
    for (const shard of deps.router.shards) {
      if (!deps.shards.has(shard.id)) throw new RangeError(`no SQL client for ${shard.id}`);
      const client = deps.shards.get(shard.id);
      if (client !== undefined) this.policies.set(shard.id, this.guard(shard.id, client));
    }
  }

  /**
   * One shard's events in one transaction through the shard's policy; when the database refuses their
   * data, the records it refuses are set apart (see `applyIsolatingRejections`) without touching the
   * breaker, which counts only unavailability. The index entries of what was committed are appended to
   * `indexEntries` under the shard id.
   * @throws ShardUnavailableError when the shard's breaker is open.
   * @throws RangeError for a shard id without a SQL client.
   */
  public async apply(
    shardId: string,
    events: readonly PendingEvent[],
    indexEntries: Map<string, IndexEntry[]>,
  ): Promise<ReadonlyMap<PendingEvent, EventOutcome>> {
    const { policy, client } = this.policyFor(shardId);
    const bucketOf = (id: string) => this.deps.router.bucketOf(id);
    const started = performance.now();
    const result = await applyIsolatingRejections(events, (subset) =>
      policy
        .execute(() => applyEventsToShard(client, subset, bucketOf))
        .catch((error: unknown) => {
          throw error instanceof BrokenCircuitError
            ? new ShardUnavailableError(shardId, { cause: error })
            : error;
        }),
    );
    if (result.transactions > 1) {
      this.deps.logger.warn('the shard refused the data of some records; they were set apart', {
        shard: shardId,
        events: events.length,
        transactions: result.transactions,
      });
    }
    recordShardTransactionLatency(this.deps.metrics, shardId, performance.now() - started);
    const list = indexEntries.get(shardId) ?? [];
    list.push(...result.indexEntries);
    indexEntries.set(shardId, list);
    return result.outcomes;
  }

  private policyFor(shardId: string): GuardedClient {
    const client = this.deps.shards.get(shardId);
    if (client === undefined) throw new RangeError(`unknown shard ${shardId}`);
    let guarded = this.policies.get(shardId);
    if (guarded?.client !== client) {
      // The shard was repointed (failover): its old breaker state says nothing about the new primary.
      guarded = this.guard(shardId, client);
      this.policies.set(shardId, guarded);
    }
    return guarded;
  }

  private guard(shardId: string, client: SqlClient): GuardedClient {
    return {
      client,
      policy: shardWritePolicy(this.deps.settings, () => countBreakerOpened(this.deps.metrics, shardId)),
    };
  }
}
