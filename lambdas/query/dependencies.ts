import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { CustomerQueryService, type QuerySettings } from '../shared/query/index.js';
import {
  openRedis,
  type RedisClient,
  type RedisConnectionOptions,
} from '../shared/redis/createRedisClient.js';
import { type ShardMap, ShardRouter } from '../shared/sharding/index.js';
import { type SqlClient, sqlClientFor } from '../shared/sql/index.js';

export interface QueryWiring {
  readonly shardMap: ShardMap;
  /** The Redis index; absent means every global look-up scans the shards. */
  readonly redis?: RedisConnectionOptions | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<QuerySettings>;
  /** Connections per shard for the `pg` adapter. */
  readonly maxConnectionsPerShard?: number;
  readonly now?: () => number;
}

export interface WiredQueryService {
  readonly service: CustomerQueryService;
  readonly router: ShardRouter;
  /** The live clients: a failover watcher may replace an entry, the service looks them up per call. */
  readonly shards: Map<string, SqlClient>;
  readonly redis: RedisClient | undefined;
  close(): Promise<void>;
}

/**
 * Builds the query service and its adapters. Used by the Lambda handler (Data API, ElastiCache) and by
 * local runs and tests (pg, local Redis) alike.
 */
export async function wireQueryService(wiring: QueryWiring): Promise<WiredQueryService> {
  const router = new ShardRouter(wiring.shardMap);
  const shards = new Map(router.shards.map((s) => [s.id, sqlClientFor(s, wiring.maxConnectionsPerShard)]));
  const redis = wiring.redis ? await openRedis(wiring.redis, wiring.logger) : undefined;
  const service = new CustomerQueryService({
    router,
    shards,
    redis,
    logger: wiring.logger,
    metrics: wiring.metrics,
    ...(wiring.settings ? { settings: wiring.settings } : {}),
    ...(wiring.now ? { now: wiring.now } : {}),
  });
  return {
    service,
    router,
    shards,
    redis,
    async close() {
      await service.idle();
      await Promise.all([...shards.values()].map((s) => s.close()));
      if (redis?.isOpen) redis.destroy();
    },
  };
}
