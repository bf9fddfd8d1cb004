import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { parseShardMap, type ShardMap } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../../lambdas/shared/warehouse/migrations.js';
import { PostgresServer } from '../services/PostgresServer.js';
import { RedisServer } from '../services/RedisServer.js';

export interface LocalDataServicesOptions {
  /** Shard databases to create (each a database of one throwaway PostgreSQL server). */
  readonly shards: number;
  /** Start a throwaway Redis too (default true). */
  readonly redis?: boolean;
  /** Create and migrate a `warehouse` database for the ETL too (default false). */
  readonly warehouse?: boolean;
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
    /** The migrated warehouse database, when started with `warehouse: true`. */
    public readonly warehouseUrl?: string,
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
      const warehouseUrl = options.warehouse === true ? await createWarehouse(postgres) : undefined;
      const redis = options.redis === false ? undefined : await RedisServer.start({ name: `${name}-redis` });
      return new LocalDataServices(postgres, redis, shardMap, warehouseUrl);
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

  /** A client of the warehouse database, for checks and reports. */
  public warehouseClient(): PgSqlClient {
    if (this.warehouseUrl === undefined) throw new RangeError('started without a warehouse');
    return new PgSqlClient({ name: 'warehouse', connectionString: this.warehouseUrl });
  }

  public async stop(): Promise<void> {
    await Promise.all([this.redis?.destroy(), this.postgres.destroy()]);
  }
}

/** The analytics warehouse of the ETL: one more database of the same server, migrated. */
async function createWarehouse(postgres: PostgresServer): Promise<string> {
  await postgres.createDatabases(['warehouse']);
  const url = postgres.url('warehouse');
  const client = new PgSqlClient({ name: 'warehouse', connectionString: url });
  try {
    await migrateShard(client, WAREHOUSE_MIGRATIONS);
  } finally {
    await client.close();
  }
  return url;
}
