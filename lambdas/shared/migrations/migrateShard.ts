import { createHash } from 'node:crypto';
import { PlatformError } from '../errors.js';
import type { SqlClient } from '../sql/index.js';
import { type Migration, SHARD_MIGRATIONS } from './migrations.js';

/** Transaction-scoped advisory lock key: concurrent runners on one shard queue instead of racing. */
const MIGRATION_LOCK_KEY = 7_311_944;

export class MigrationError extends PlatformError {
  public override readonly name = 'MigrationError';
  public override readonly retriable = false;

  public constructor(
    message: string,
    public readonly shard: string,
    public readonly version?: number,
    options?: { cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
  }
}

export interface MigrationReport {
  readonly shard: string;
  readonly applied: readonly number[];
  readonly alreadyApplied: readonly number[];
}

export const checksumOf = (migration: Migration): string =>
  createHash('sha256').update(migration.statements.join('\n;\n')).digest('hex');

/**
 * Brings one shard to the latest schema. Idempotent and safe to run concurrently: each migration runs in
 * its own transaction under an advisory lock, is skipped when already recorded, and a recorded one whose
 * checksum differs stops the run.
 *
 * @throws {MigrationError} when a released migration was edited, or a statement fails (the failing
 *   migration is rolled back; earlier ones stay applied).
 */
export async function migrateShard(
  client: SqlClient,
  migrations: readonly Migration[] = SHARD_MIGRATIONS,
): Promise<MigrationReport> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: number[] = [];
  const alreadyApplied: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    const checksum = checksumOf(migration);
    const ran = await client.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(:key)', { key: MIGRATION_LOCK_KEY });
      const existing = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM schema_migrations WHERE version = :version',
        { version: migration.version },
      );
      const recorded = existing.rows[0];
      if (recorded !== undefined) {
        if (recorded.checksum !== checksum) {
          throw new MigrationError(
            `migration ${migration.version} (${migration.name}) changed after it was applied`,
            client.name,
            migration.version,
          );
        }
        return false;
      }
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query(
        'INSERT INTO schema_migrations (version, name, checksum) VALUES (:version, :name, :checksum)',
        {
          version: migration.version,
          name: migration.name,
          checksum,
        },
      );
      return true;
    });
    (ran ? applied : alreadyApplied).push(migration.version);
  }
  return { shard: client.name, applied, alreadyApplied };
}
