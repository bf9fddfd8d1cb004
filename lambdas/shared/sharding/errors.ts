import { PlatformError } from '../errors.js';

/** Base of shard-routing errors. */
export class ShardingError extends PlatformError {
  public override readonly name: string = 'ShardingError';
}

/** The shard map is malformed: a bucket unassigned or assigned twice, an unknown shard, ... */
export class InvalidShardMapError extends ShardingError {
  public override readonly name = 'InvalidShardMapError';

  public constructor(public readonly problems: readonly string[]) {
    super(`Invalid shard map:\n  - ${problems.join('\n  - ')}`);
  }
}
