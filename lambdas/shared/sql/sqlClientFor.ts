import type { ShardDescriptor } from '../sharding/index.js';
import { DataApiSqlClient } from './DataApiSqlClient.js';
import { PgSqlClient } from './PgSqlClient.js';
import type { SqlClient } from './types.js';

/** A shard reached through the Data API when it names a cluster, over `pg` when it names a URL. */
export function sqlClientFor(shard: ShardDescriptor, maxConnections?: number): SqlClient {
  if (shard.clusterArn && shard.secretArn) {
    return new DataApiSqlClient({
      name: shard.id,
      resourceArn: shard.clusterArn,
      secretArn: shard.secretArn,
      database: shard.database,
    });
  }
  if (shard.url) {
    return new PgSqlClient({
      name: shard.id,
      connectionString: shard.url,
      ...(maxConnections === undefined ? {} : { maxConnections }),
    });
  }
  throw new RangeError(`${shard.id} names neither a cluster (clusterArn + secretArn) nor a url`);
}
