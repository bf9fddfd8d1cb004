import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { parseShardMap, type ShardMap } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import { PostgresServer } from '../services/PostgresServer.js';
import { RedisServer } from '../services/RedisServer.js';

export interface LocalDataServicesOptions {
  /** Shard databases to create (each a database of one throwaway PostgreSQL server). */
  readonly shards: number;
  /** Start a throwaway Redis too (default true). */
  readonly redis?: boolean;
  readonly name?: string;
}

/**
 * The stateful tier of the platform on this machine: one throwaway PostgreSQL server holding one
 * migrated database per shard, and a throwaway Redis. The same shard map format as in AWS, with URLs.
 */
export class LocalDataServices {
  private constructor(
    public readonly postgres: PostgresServer,
    public readonly redis: RedisServer | undefined,
    public readonly shardMap: ShardMap,
  ) {}

  public static async start(options: LocalDataServicesOptions): Promise<LocalDataServices> {
    const name = options.name ?? 'cdp';
    const postgres = await PostgresServer.start({ name: `${name}-pg`, settings: { max_connections: '300' } });
    try {
      const urls = await postgres.createShardDatabases(options.shards);
      const shardMap = parseShardMap({
        version: 1,
        shards: urls.map((url, i) => ({ id: `shard-${i}`, url })),
      });
      await Promise.all(
        shardMap.shards.map(async (shard) => {
          const client = new PgSqlClient({ name: shard.id, connectionString: shard.url ?? '' });
          try {
            await migrateShard(client);
          } finally {
            await client.close();
          }
        }),
      );
      const redis = options.redis === false ? undefined : await RedisServer.start({ name: `${name}-redis` });
      return new LocalDataServices(postgres, redis, shardMap);
    } catch (error: unknown) {
      await postgres.destroy();
      throw error;
    }
  }

  /** A client of one shard, for checks and reports. */
  public shardClient(shardId: string): PgSqlClient {
    const shard = this.shardMap.shards.find((s) => s.id === shardId);
    if (!shard?.url) throw new RangeError(`unknown shard ${shardId}`);
    return new PgSqlClient({ name: shardId, connectionString: shard.url });
  }

  public async stop(): Promise<void> {
    await Promise.all([this.redis?.destroy(), this.postgres.destroy()]);
  }
}
