import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import { createHandler, type ShardMigrationDependencies } from '../shard-migrations/handler.js';
import { sqlClientFor } from '../shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../shared/warehouse/migrations.js';

/** The warehouse has one schema for its whole life: the resource keeps this id. */
export const PHYSICAL_RESOURCE_ID = 'warehouse-schema';

/**
 * The onEvent handler of the warehouse schema resource: the shard migrations handler, run with
 * {@link WAREHOUSE_MIGRATIONS} on the warehouse, which SHARD_MAP describes as a one-entry shard map
 * (`{ version: 1, shards: [{ id: 'shard-0', clusterArn, secretArn, database }] }`). Create and Update
 * bring it to the latest schema, idempotently; Delete leaves the schema and its data in place.
 */
export function createWarehouseHandler(
  deps: Omit<ShardMigrationDependencies, 'migrations'>,
): (event: CdkCustomResourceEvent) => Promise<CdkCustomResourceResponse> {
  const migrate = createHandler({ ...deps, migrations: WAREHOUSE_MIGRATIONS });
  return async (event) => {
    const response = await migrate(event);
    // Only a Create chooses the id; Update and Delete must answer with the one CloudFormation holds.
    return event.RequestType === 'Create'
      ? { ...response, PhysicalResourceId: PHYSICAL_RESOURCE_ID }
      : response;
  };
}

export const handler = createWarehouseHandler({
  shardMap: () => process.env.SHARD_MAP,
  clientFor: (shard) => sqlClientFor(shard),
});
