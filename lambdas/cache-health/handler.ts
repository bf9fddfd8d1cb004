import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import type { ScheduledEvent } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import {
  type CacheHealthReport,
  cacheHealthConfigFrom,
  checkCacheHealth,
} from '../shared/health/cacheHealth.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';

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
export const handler = lambdaHandler(async (_event: ScheduledEvent): Promise<CacheHealthReport> => {
  const config = cacheHealthConfigFrom(process.env);
  const report = await checkCacheHealth(config, {
    client: elastiCache,
    metrics,
    logger,
    now: () => new Date(),
  });
  tracer.putAnnotation('healthy', report.healthy);
  return report;
})
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
