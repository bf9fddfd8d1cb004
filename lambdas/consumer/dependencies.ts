import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { type ConsumerSettings, CustomerEventConsumer } from '../shared/consumer/CustomerEventConsumer.js';
import type { DeadLetterSink } from '../shared/consumer/deadLetters.js';
import type { Parking } from '../shared/consumer/parking.js';
import { openRedis, type RedisClient } from '../shared/redis/createRedisClient.js';
import { type ShardMap, ShardRouter } from '../shared/sharding/index.js';
import { type SqlClient, sqlClientFor } from '../shared/sql/index.js';

export interface ConsumerWiring {
  readonly shardMap: ShardMap;
  readonly redis?: { readonly url: string; readonly password?: string | undefined } | undefined;
  readonly deadLetters: DeadLetterSink;
  /** The retry topic for records of an unavailable shard; absent, they are redelivered in place. */
  readonly parking?: Parking | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<ConsumerSettings>;
  /** Connections per shard for the `pg` adapter. */
  readonly maxConnectionsPerShard?: number;
  /**
   * Clients per shard id owned by the caller, e.g. `ShardDirectory.shards`, whose entries are repointed
   * while the consumer runs. Used as given (looked up per transaction) and left open by `close()`. When
   * absent, one client per shard of `shardMap` is built here and closed by `close()`.
   */
  readonly shards?: ReadonlyMap<string, SqlClient>;
}

export interface WiredConsumer {
  readonly consumer: CustomerEventConsumer;
  readonly redis: RedisClient | undefined;
  close(): Promise<void>;
}

/**
 * Builds the consumer and its adapters. Used by the Lambda handler (Data API, ElastiCache, SQS) and by
 * the local runtime (pg, local Redis, local log) alike, so both run the same processing code.
 */
export async function wireConsumer(wiring: ConsumerWiring): Promise<WiredConsumer> {
  const router = new ShardRouter(wiring.shardMap);
  const owned = wiring.shards === undefined;
  const shards =
    wiring.shards ??
    new Map(router.shards.map((s) => [s.id, sqlClientFor(s, wiring.maxConnectionsPerShard)]));
  const redis = wiring.redis ? await openRedis(wiring.redis, wiring.logger) : undefined;
  const consumer = new CustomerEventConsumer({
    router,
    shards,
    deadLetters: wiring.deadLetters,
    parking: wiring.parking,
    logger: wiring.logger,
    metrics: wiring.metrics,
    redis,
    ...(wiring.settings ? { settings: wiring.settings } : {}),
  });
  return {
    consumer,
    redis,
    async close() {
      if (owned) await Promise.all([...shards.values()].map((s) => s.close()));
      if (redis?.isOpen) redis.destroy();
    },
  };
}
