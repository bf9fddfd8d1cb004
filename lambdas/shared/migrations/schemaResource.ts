import type { Logger } from '@aws-lambda-powertools/logger';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import { parseShardMap, type ShardDescriptor, type ShardMap } from '../sharding/index.js';
import type { SqlClient } from '../sql/index.js';
import { type MigrationReport, migrateShard } from './migrateShard.js';
import type { Migration } from './migrations.js';
import { type ShardFailure, ShardMapUnavailableError, ShardMigrationFailedError } from './resourceErrors.js';
export interface ShardMigrationDependencies {
  /** The function's logger: each schema resource logs under its own service. */
  readonly logger: Logger;
  /** The shard map document (SHARD_MAP), read on every event. */
  readonly shardMap: () => string | undefined;
  /** Opens a SQL client on one shard; the handler closes it. */
  readonly clientFor: (shard: ShardDescriptor) => SqlClient;
  /** @default SHARD_MIGRATIONS */
  readonly migrations?: readonly Migration[];
  /** The id a Create answers with: one schema per resource for its whole life. */
  readonly physicalResourceId: string;
}

/**
 * Reads and checks the shard map.
 *
 * @throws {ShardMapUnavailableError} when it is missing or invalid.
 */
function loadShardMap(raw: string | undefined): ShardMap {
  if (raw === undefined || raw === '') {
    throw new ShardMapUnavailableError('SHARD_MAP is not set: no shard to migrate');
  }
  try {
    return parseShardMap(raw);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ShardMapUnavailableError(`SHARD_MAP is invalid: ${reason}`, { cause: error });
  }
}

async function migrateOne(
  shard: ShardDescriptor,
  deps: ShardMigrationDependencies,
): Promise<MigrationReport> {
  const client = deps.clientFor(shard);
  try {
    return await migrateShard(client, deps.migrations);
  } finally {
    await client
      .close()
      .catch((error: unknown) =>
        deps.logger.warn('Closing the shard client failed', { shard: shard.id, error }),
      );
  }
}

/**
 * Migrates every shard concurrently, each independently of the others.
 *
 * @throws {ShardMigrationFailedError} naming every shard that failed, once all have finished.
 */
async function migrateAll(
  shards: readonly ShardDescriptor[],
  deps: ShardMigrationDependencies,
): Promise<MigrationReport[]> {
  const outcomes = await Promise.allSettled(shards.map((shard) => migrateOne(shard, deps)));
  const reports: MigrationReport[] = [];
  const failures: ShardFailure[] = [];
  outcomes.forEach((outcome, i) => {
    const shard = shards[i]?.id ?? `#${i}`;
    if (outcome.status === 'fulfilled') reports.push(outcome.value);
    else failures.push({ shard, cause: outcome.reason });
  });
  if (failures.length > 0) throw new ShardMigrationFailedError(failures);
  return reports;
}

/**
 * The resource's attributes: `SchemaVersion` (the highest version now on every shard) and, per shard id,
 * the versions this event applied there, comma-separated (empty when the shard was already current).
 */
function summaryOf(reports: readonly MigrationReport[]): Record<string, string> {
  const versions = reports.flatMap((r) => [...r.applied, ...r.alreadyApplied]);
  return {
    SchemaVersion: String(versions.length === 0 ? 0 : Math.max(...versions)),
    ...Object.fromEntries(reports.map((r) => [r.shard, r.applied.join(',')])),
  };
}

/**
 * The onEvent handler of a schema resource (the shards', the warehouse's). Create and Update migrate every
 * shard of SHARD_MAP to the latest schema (idempotently: applied migrations are skipped); Delete leaves
 * every schema and its data in place. A failing shard fails the event, and with it the deployment, naming
 * the shard.
 */
export function createSchemaResourceHandler(
  deps: ShardMigrationDependencies,
): (event: CdkCustomResourceEvent) => Promise<CdkCustomResourceResponse> {
  const { logger } = deps;
  return async (event) => {
    logger.appendKeys({ requestType: event.RequestType, logicalResourceId: event.LogicalResourceId });
    try {
      if (event.RequestType === 'Delete') {
        logger.info('Stack no longer manages the shard schema; leaving every shard as it is', {
          physicalResourceId: event.PhysicalResourceId,
        });
        return { PhysicalResourceId: event.PhysicalResourceId };
      }
      const { shards } = loadShardMap(deps.shardMap());
      logger.info('Migrating shards', { shards: shards.map((s) => s.id) });
      const reports = await migrateAll(shards, deps);
      logger.info('Shards migrated', { reports });
      return {
        PhysicalResourceId:
          event.RequestType === 'Update' ? event.PhysicalResourceId : deps.physicalResourceId,
        Data: summaryOf(reports),
      };
    } catch (error: unknown) {
      logger.error('Shard schema migration failed', { error });
      throw error;
    } finally {
      logger.removeKeys(['requestType', 'logicalResourceId']);
    }
  };
}
