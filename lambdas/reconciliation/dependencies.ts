import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { CustomerIndex } from '../shared/index/CustomerIndex.js';
import { type ReconciliationSteps, reconciliationSteps } from '../shared/reconciliation/steps.js';
import { openRedis, type RedisClient } from '../shared/redis/createRedisClient.js';
import type { EventLogReader, EventLogWriter } from '../shared/replay/eventLog.js';
import {
  type ReconciliationSettings,
  type ReplaySettings,
  reconciliationSettings,
  replaySettings,
} from '../shared/resilience/defaults.js';
import { type ShardMap, ShardRouter } from '../shared/sharding/index.js';
import { type SqlClient, sqlClientFor } from '../shared/sql/index.js';

export interface ReconciliationWiring {
  readonly shardMap: ShardMap;
  readonly redis: { readonly url: string; readonly password?: string | undefined };
  /** The event log: kafkajs on MSK, or the local log. */
  readonly eventLog: EventLogReader & EventLogWriter & { close?(): Promise<void> };
  readonly topic: string;
  readonly retryTopic: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<ReconciliationSettings>;
  readonly replaySettings?: Partial<ReplaySettings>;
  /** Connections per shard for the `pg` adapter. */
  readonly maxConnectionsPerShard?: number;
}

export interface WiredReconciliation {
  readonly steps: ReconciliationSteps;
  readonly redis: RedisClient;
  close(): Promise<void>;
}

/**
 * Builds the reconciliation's step code and its adapters. The Lambda handlers (Data API, ElastiCache,
 * MSK) and the local runner (pg, local Redis, local log) share it, so both run the same code.
 */
export async function wireReconciliation(wiring: ReconciliationWiring): Promise<WiredReconciliation> {
  const router = new ShardRouter(wiring.shardMap);
  const shards = new Map<string, SqlClient>(
    router.shards.map((s) => [s.id, sqlClientFor(s, wiring.maxConnectionsPerShard)]),
  );
  const redis = await openRedis(wiring.redis, wiring.logger);
  const steps = reconciliationSteps({
    router,
    shards,
    index: new CustomerIndex(redis),
    reader: wiring.eventLog,
    writer: wiring.eventLog,
    topic: wiring.topic,
    retryTopic: wiring.retryTopic,
    logger: wiring.logger,
    metrics: wiring.metrics,
    settings: reconciliationSettings(wiring.settings),
    replaySettings: replaySettings(wiring.replaySettings),
  });
  return {
    steps,
    redis,
    async close() {
      await Promise.all([...shards.values()].map((s) => s.close()));
      await wiring.eventLog.close?.();
      if (redis.isOpen) redis.destroy();
    },
  };
}
