import { Logger } from '@aws-lambda-powertools/logger';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import {
  createSchemaResourceHandler,
  type ShardMigrationDependencies,
} from '../shared/migrations/schemaResource.js';
import { sqlClientFor } from '../shared/sql/index.js';

export type { ShardMigrationDependencies } from '../shared/migrations/schemaResource.js';

const logger = new Logger({ serviceName: 'shard-migrations' });

/** One schema per environment: the resource keeps this id for its whole life. */
export const PHYSICAL_RESOURCE_ID = 'shard-schema';

/** The shard schema resource's handler over the given shards and clients (SHARD_MIGRATIONS unless told). */
export function createHandler(
  deps: Omit<ShardMigrationDependencies, 'logger' | 'physicalResourceId'>,
): (event: CdkCustomResourceEvent) => Promise<CdkCustomResourceResponse> {
  return createSchemaResourceHandler({ ...deps, logger, physicalResourceId: PHYSICAL_RESOURCE_ID });
}

export const handler = createHandler({
  shardMap: () => process.env.SHARD_MAP,
  clientFor: (shard) => sqlClientFor(shard),
});
