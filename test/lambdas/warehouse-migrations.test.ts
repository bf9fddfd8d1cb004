import type { CdkCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { ShardMigrationFailedError } from '../../lambdas/shared/migrations/resourceErrors.js';
import type { ShardDescriptor } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient, type SqlClient } from '../../lambdas/shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../../lambdas/shared/warehouse/migrations.js';
import { createWarehouseHandler, PHYSICAL_RESOURCE_ID } from '../../lambdas/warehouse-migrations/handler.js';
import { PostgresServer } from '../../local/services/index.js';

const LATEST = Math.max(...WAREHOUSE_MIGRATIONS.map((m) => m.version));
const ALL_VERSIONS = WAREHOUSE_MIGRATIONS.map((m) => m.version).join(',');

const base = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:111111111111:function:provider',
  ResponseURL: 'https://cloudformation-custom-resource-response.example/',
  StackId: 'arn:aws:cloudformation:eu-west-1:111111111111:stack/cdp-dev-workflows/guid',
  RequestId: 'request',
  LogicalResourceId: 'WarehouseSchema',
  ResourceType: 'Custom::WarehouseSchemaMigrations',
  ResourceProperties: {
    ServiceToken: 'arn:aws:lambda:eu-west-1:111111111111:function:provider',
    MigrationsChecksum: 'a'.repeat(64),
  },
} as const;

/** The warehouse as the workflows stack describes it: a one-entry shard map. */
const warehouseMapOf = (url: string): string =>
  JSON.stringify({ version: 1, shards: [{ id: 'shard-0', url, database: 'warehouse' }] });

describe('warehouse-migrations custom resource on real PostgreSQL', () => {
  let server: PostgresServer;
  let url: string;
  const clientFor = (shard: ShardDescriptor): SqlClient =>
    new PgSqlClient({ name: shard.id, connectionString: shard.url ?? '' });
  const tablesOf = async (): Promise<string[]> => {
    const result = await server.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      [],
      'warehouse',
    );
    return result.rows.map((row) => row.table_name);
  };

  beforeAll(async () => {
    server = await PostgresServer.start({ name: 'warehouse-migrations' });
    await server.createDatabases(['warehouse']);
    url = server.url('warehouse');
  });

  afterAll(async () => {
    await server?.destroy();
  });

  it('creates the warehouse schema on Create under the warehouse physical id', async () => {
    // Prepare
    const handler = createWarehouseHandler({ shardMap: () => warehouseMapOf(url), clientFor });

    // Act
    const response = await handler({ ...base, RequestType: 'Create' });

    // Assess
    expect(response).toEqual({
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      Data: { SchemaVersion: String(LATEST), 'shard-0': ALL_VERSIONS },
    });
    expect(await tablesOf()).toEqual(
      expect.arrayContaining(['dim_customer', 'etl_batches', 'schema_migrations']),
    );
    expect(await tablesOf()).not.toContain('customers');
  });

  it('keeps the physical id CloudFormation holds on Update, applying nothing twice', async () => {
    // Prepare
    const handler = createWarehouseHandler({ shardMap: () => warehouseMapOf(url), clientFor });
    const update: CdkCustomResourceEvent = {
      ...base,
      RequestType: 'Update',
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      OldResourceProperties: { ...base.ResourceProperties, MigrationsChecksum: 'b'.repeat(64) },
    };

    // Act
    const response = await handler(update);

    // Assess
    expect(response).toEqual({
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      Data: { SchemaVersion: String(LATEST), 'shard-0': '' },
    });
  });

  it('fails the deployment, naming the warehouse entry, when the warehouse cannot be reached', async () => {
    // Prepare: a port nothing listens on
    const unreachable = url.replace(/:(\d+)\//, ':1/');
    const handler = createWarehouseHandler({ shardMap: () => warehouseMapOf(unreachable), clientFor });

    // Act
    const outcome = handler({ ...base, RequestType: 'Create' });

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(ShardMigrationFailedError);
    await expect(outcome).rejects.toThrow(/shard-0/);
  });
});
