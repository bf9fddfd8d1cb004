export { InvalidShardMapError, ShardingError } from './errors.js';
export {
  DEFAULT_RETIRE_GRACE_MILLIS,
  DEFAULT_SHARD_MAP_POLL_MILLIS,
  type RefreshOutcome,
  ShardDirectory,
  type ShardDirectoryLogger,
  type ShardDirectoryOptions,
} from './ShardDirectory.js';
export { bucketOf, ShardRouter } from './ShardRouter.js';
export {
  type BucketRange,
  DEFAULT_BUCKET_COUNT,
  evenRanges,
  parseShardMap,
  type ShardDescriptor,
  type ShardMap,
  shardMapSchema,
} from './shardMap.js';
export {
  fileShardMapSource,
  type ShardMapSource,
  staticShardMapSource,
  writeShardMapFile,
} from './shardMapSource.js';
