import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import {
  type CacheHealthReport,
  cacheHealthConfigFrom,
  checkCacheHealth,
} from '../shared/health/cacheHealth.js';

const logger = new Logger({ serviceName: 'cache-health' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.cacheHealth });
const tracer = new Tracer({ serviceName: 'cache-health' });

// One attempt per send: the named control-plane policy owns retries and timeouts, so the check's budget holds.
const elastiCache = tracer.captureAWSv3Client(new ElastiCacheClient({ maxAttempts: 1 }));

/**
 * Entry point of the scheduled ElastiCache health check. Returns the report (also published as metrics).
 *
 * @throws {HealthCheckConfigError} when `REPLICATION_GROUP_ID` or `EVENT_LOOKBACK_MINUTES` is invalid, or
 *   the function may not read the replication group or its events.
 */
export const handler = async (_event: ScheduledEvent, context: Context): Promise<CacheHealthReport> => {
  logger.addContext(context);
  const config = cacheHealthConfigFrom(process.env);
  const report = await checkCacheHealth(config, {
    client: elastiCache,
    metrics,
    logger,
    now: () => new Date(),
  });
  tracer.putAnnotation('healthy', report.healthy);
  return report;
};
