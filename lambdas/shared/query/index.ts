export { QUERY_DEFAULTS, type QuerySettings, querySettings } from '../resilience/defaults.js';
export {
  type CustomerQueryDependencies,
  CustomerQueryService,
  QUERY_METRICS,
} from './CustomerQueryService.js';
export {
  IndexWarmupError,
  isQueryError,
  OverloadedError,
  QueryError,
  type QueryErrorContext,
  ShardUnavailableError,
  type ShardUnavailableReason,
} from './errors.js';
export {
  type CacheLookup,
  FallbackCache,
  type FallbackCacheOptions,
  type FallbackCacheStats,
} from './FallbackCache.js';
export {
  INDEX_WARMUP_PROGRESS_METRIC,
  IndexWarmer,
  type IndexWarmerDependencies,
  type WarmupOptions,
  type WarmupProgress,
  type WarmupResult,
} from './IndexWarmer.js';
export type { Customer, CustomerQueries, LookupKind, QueryStats } from './types.js';
