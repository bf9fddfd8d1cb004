import { Logger } from '@aws-lambda-powertools/logger';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import {
  createSchemaResourceHandler,
  type ShardMigrationDependencies,
} from '../shared/migrations/schemaResource.js';
import { sqlClientFor } from '../shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../shared/warehouse/migrations.js';

const logger = new Logger({ serviceName: 'warehouse-migrations' });

/** The warehouse has one schema for its whole life: the resource keeps this id. */
export const PHYSICAL_RESOURCE_ID = 'warehouse-schema';

/**
 * The onEvent handler of the warehouse schema resource: the schema resource handler, run with
 * {@link WAREHOUSE_MIGRATIONS} on the warehouse, which SHARD_MAP describes as a one-entry shard map
 * (`{ version: 1, shards: [{ id: 'shard-0', clusterArn, secretArn, database }] }`). Create and Update
 * bring it to the latest schema, idempotently; Delete leaves the schema and its data in place.
 */
export function createWarehouseHandler(
  deps: Omit<ShardMigrationDependencies, 'migrations' | 'logger' | 'physicalResourceId'>,
): (event: CdkCustomResourceEvent) => Promise<CdkCustomResourceResponse> {
  return createSchemaResourceHandler({
    ...deps,
    migrations: WAREHOUSE_MIGRATIONS,
    logger,
    physicalResourceId: PHYSICAL_RESOURCE_ID,
  });
}

export const handler = createWarehouseHandler({
  shardMap: () => process.env.SHARD_MAP,
  clientFor: (shard) => sqlClientFor(shard),
});
