import type { CdkCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import {
  createHandler,
  PHYSICAL_RESOURCE_ID,
  type ShardMigrationDependencies,
} from '../../lambdas/shard-migrations/handler.js';
import { SHARD_MIGRATIONS } from '../../lambdas/shared/migrations/index.js';
import {
  ShardMapUnavailableError,
  ShardMigrationFailedError,
} from '../../lambdas/shared/migrations/resourceErrors.js';
import type { ShardDescriptor } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient, type SqlClient } from '../../lambdas/shared/sql/index.js';
import { PostgresServer } from '../../local/services/index.js';

const SHARD_COUNT = 3;
const LATEST = Math.max(...SHARD_MIGRATIONS.map((m) => m.version));
const ALL_VERSIONS = SHARD_MIGRATIONS.map((m) => m.version).join(',');

const base = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:111111111111:function:provider',
  ResponseURL: 'https://cloudformation-custom-resource-response.example/',
  StackId: 'arn:aws:cloudformation:eu-west-1:111111111111:stack/cdp-dev-consumer/guid',
  RequestId: 'request',
  LogicalResourceId: 'ShardSchema',
  ResourceType: 'Custom::ShardSchemaMigrations',
  ResourceProperties: {
    ServiceToken: 'arn:aws:lambda:eu-west-1:111111111111:function:provider',
    MigrationsChecksum: 'a'.repeat(64),
  },
} as const;

const createEvent = (): CdkCustomResourceEvent => ({ ...base, RequestType: 'Create' });
const updateEvent = (): CdkCustomResourceEvent => ({
  ...base,
  RequestType: 'Update',
  PhysicalResourceId: PHYSICAL_RESOURCE_ID,
  OldResourceProperties: { ...base.ResourceProperties, MigrationsChecksum: 'b'.repeat(64) },
});
const deleteEvent = (): CdkCustomResourceEvent => ({
  ...base,
  RequestType: 'Delete',
  PhysicalResourceId: PHYSICAL_RESOURCE_ID,
});

const shardMapOf = (urls: readonly string[]): string =>
  JSON.stringify({ version: 1, shards: urls.map((url, i) => ({ id: `shard-${i}`, url })) });

describe('shard-migrations custom resource on real PostgreSQL', () => {
  let server: PostgresServer;
  let urls: string[];
  const opened: string[] = [];
  const clientFor = (shard: ShardDescriptor): SqlClient => {
    opened.push(shard.id);
    return new PgSqlClient({ name: shard.id, connectionString: shard.url ?? '' });
  };
  const handlerFor = (shardMap: string | undefined, deps: Partial<ShardMigrationDependencies> = {}) =>
    createHandler({ shardMap: () => shardMap, clientFor, ...deps });
  const recordedVersions = async (database: string): Promise<number[]> => {
    const result = await server.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
      [],
      database,
    );
    return result.rows.map((row) => row.version);
  };
  const tablesOf = async (database: string): Promise<string[]> => {
    const result = await server.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      [],
      database,
    );
    return result.rows.map((row) => row.table_name);
  };

  beforeAll(async () => {
    server = await PostgresServer.start({ name: 'shard-migrations' });
    urls = await server.createShardDatabases(SHARD_COUNT);
  });

  afterAll(async () => {
    await server?.destroy();
  });

  it('migrates every shard of SHARD_MAP on Create and reports the versions applied per shard', async () => {
    // Prepare
    const handler = handlerFor(shardMapOf(urls));

    // Act
    const response = await handler(createEvent());

    // Assess
    expect(response).toEqual({
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      Data: {
        SchemaVersion: String(LATEST),
        ...Object.fromEntries(urls.map((_, i) => [`shard-${i}`, ALL_VERSIONS])),
      },
    });
    for (let i = 0; i < SHARD_COUNT; i++) {
      expect(await recordedVersions(`shard_${i}`)).toEqual(SHARD_MIGRATIONS.map((m) => m.version));
      expect(await tablesOf(`shard_${i}`)).toEqual(
        expect.arrayContaining(['applied_events', 'customers', 'index_outbox', 'schema_migrations']),
      );
    }
  });

  it('changes nothing on an Update of an already migrated shard map, and keeps the physical id', async () => {
    // Prepare
    await server.query(
      "INSERT INTO customers (customer_id, bucket, email, last_event_id, last_event_at) VALUES ('c-1', 1, 'a@example.com', gen_random_uuid(), now())",
      [],
      'shard_0',
    );
    const handler = handlerFor(shardMapOf(urls));

    // Act
    const response = await handler(updateEvent());

    // Assess
    expect(response).toEqual({
      PhysicalResourceId: PHYSICAL_RESOURCE_ID,
      Data: { SchemaVersion: String(LATEST), ...Object.fromEntries(urls.map((_, i) => [`shard-${i}`, ''])) },
    });
    expect(await recordedVersions('shard_0')).toEqual(SHARD_MIGRATIONS.map((m) => m.version));
    const kept = await server.query('SELECT customer_id FROM customers', [], 'shard_0');
    expect(kept.rows).toEqual([{ customer_id: 'c-1' }]);
  });

  it('migrates a shard added to the map on Update, leaving the others as they are', async () => {
    // Prepare
    const [added] = await server.createShardDatabases(1, 'added');
    const handler = handlerFor(shardMapOf([...urls, added ?? '']));

    // Act
    const response = await handler(updateEvent());

    // Assess
    expect(response.Data).toMatchObject({ 'shard-0': '', [`shard-${SHARD_COUNT}`]: ALL_VERSIONS });
    expect(await recordedVersions('added_0')).toEqual(SHARD_MIGRATIONS.map((m) => m.version));
  });

  it('does nothing on Delete: no shard is opened and every schema stays', async () => {
    // Prepare
    opened.length = 0;
    const handler = handlerFor(shardMapOf(urls));

    // Act
    const response = await handler(deleteEvent());

    // Assess
    expect(response).toEqual({ PhysicalResourceId: PHYSICAL_RESOURCE_ID });
    expect(opened).toEqual([]);
    expect(await tablesOf('shard_1')).toContain('customers');
  });

  it('fails the event naming the shard that cannot be migrated, after migrating the others', async () => {
    // Prepare: a shard whose database already holds an unrelated customers table
    const [broken] = await server.createShardDatabases(1, 'broken');
    await server.query('CREATE TABLE customers (legacy_id integer)', [], 'broken_0');
    const [fresh] = await server.createShardDatabases(1, 'fresh');
    const shardMap = JSON.stringify({
      version: 1,
      shards: [
        { id: 'shard-0', url: fresh },
        { id: 'shard-1', url: broken },
      ],
    });
    const handler = handlerFor(shardMap);

    // Act
    const outcome = handler(createEvent());

    // Assess
    await expect(outcome).rejects.toThrow(ShardMigrationFailedError);
    await expect(outcome).rejects.toThrow(/^Schema migration failed on shard-1 \(shard-1: .*customers.*\)$/);
    await expect(outcome).rejects.toMatchObject({ shards: ['shard-1'], retriable: false });
    expect(await recordedVersions('fresh_0')).toEqual(SHARD_MIGRATIONS.map((m) => m.version));
    expect(await recordedVersions('broken_0')).toEqual([]);
  });

  it('names every failing shard, including one the map gives no way to reach', async () => {
    // Prepare
    const shardMap = JSON.stringify({
      version: 1,
      shards: [
        { id: 'shard-0', url: urls[0] },
        { id: 'shard-1', url: 'postgres://postgres@127.0.0.1:1/nowhere' },
        { id: 'shard-2' },
      ],
    });
    const handler = createHandler({
      shardMap: () => shardMap,
      clientFor: (shard) => {
        if (shard.url === undefined) throw new RangeError(`${shard.id} names neither a cluster nor a url`);
        return new PgSqlClient({ name: shard.id, connectionString: shard.url, connectTimeoutMillis: 500 });
      },
    });

    // Act
    const outcome = handler(updateEvent());

    // Assess
    await expect(outcome).rejects.toMatchObject({ shards: ['shard-1', 'shard-2'] });
    await expect(outcome).rejects.toThrow(
      /shard-1 \(.*\); shard-2 \(shard-2 names neither a cluster nor a url\)/,
    );
  });

  it('refuses to run without a valid SHARD_MAP, saying so', async () => {
    await expect(handlerFor(undefined)(createEvent())).rejects.toThrow(ShardMapUnavailableError);
    await expect(handlerFor(undefined)(createEvent())).rejects.toThrow('SHARD_MAP is not set');
    await expect(handlerFor('{"version":2}')(updateEvent())).rejects.toThrow(/^SHARD_MAP is invalid: /);
  });
});
