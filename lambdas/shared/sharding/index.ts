export { InvalidShardMapError, ShardingError } from './errors.js';
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
