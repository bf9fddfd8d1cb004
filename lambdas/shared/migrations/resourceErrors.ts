import { isRetriable, PlatformError } from '../errors.js';

/** One shard that could not be brought to the latest schema, and why. */
export interface ShardFailure {
  readonly shard: string;
  readonly cause: unknown;
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

/** Base of the errors of the shard schema migration resource. */
export class SchemaMigrationError extends PlatformError {
  public override readonly name: string = 'SchemaMigrationError';

  public constructor(
    message: string,
    options: { readonly cause?: unknown; readonly retriable?: boolean } = {},
  ) {
    super(message, options);
  }
}

/** The resource has no shard map to migrate (SHARD_MAP missing or invalid); redeploying the same cannot help. */
export class ShardMapUnavailableError extends SchemaMigrationError {
  public override readonly name = 'ShardMapUnavailableError';

  public constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { ...options, retriable: false });
  }
}

/**
 * One or more shards failed to migrate; the message names each with its cause. The other shards were
 * migrated. Retriable only when every cause was (a paused or failing-over writer, a lost connection).
 */
export class ShardMigrationFailedError extends SchemaMigrationError {
  public override readonly name = 'ShardMigrationFailedError';
  public readonly shards: readonly string[];

  public constructor(public readonly failures: readonly ShardFailure[]) {
    super(
      `Schema migration failed on ${failures.map((f) => `${f.shard} (${messageOf(f.cause)})`).join('; ')}`,
      {
        cause:
          failures.length === 1
            ? failures[0]?.cause
            : new AggregateError(
                failures.map((f) => f.cause),
                'several shards failed',
              ),
        retriable: failures.length > 0 && failures.every((f) => isRetriable(f.cause)),
      },
    );
    this.shards = failures.map((f) => f.shard);
  }
}
