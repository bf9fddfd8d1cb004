import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { METRIC_NAMESPACE, SCALING_METRIC_NAMES, SERVICES } from '../shared/contracts/index.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { MappingNotReadyError, type ScalingReport, scalePollers } from '../shared/scaling/scalePollers.js';
import { scalerEnvironment } from '../shared/scaling/scalerEnvironment.js';

const logger = new Logger({ serviceName: 'lag-scaler' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.lagScaler });
// One attempt per send: the scaler's call policy owns retries and timeouts.
const lambda = new LambdaClient({ maxAttempts: 1 });
const cloudwatch = new CloudWatchClient({ maxAttempts: 1 });
const environment = scalerEnvironment(process.env);

/**
 * Entry point of the consumer's lag scaler, run when a lag alarm changes state and every minute: raises or
 * lowers the events mapping's minimum pollers one step (docs/adr/0011). Returns what it decided.
 *
 * @throws the SDK's error when CloudWatch or Lambda stay unreachable through the retries.
 */
export const handler = lambdaHandler(async (_event: unknown): Promise<ScalingReport | undefined> => {
  try {
    const report = await scalePollers({ lambda, cloudwatch, ...environment });
    metrics.addMetric(SCALING_METRIC_NAMES.consumerMinimumPollers, MetricUnit.Count, report.decision.target);
    if (report.applied) metrics.addMetric(SCALING_METRIC_NAMES.pollerScalingChanges, MetricUnit.Count, 1);
    logger.info('lag scaler decided', { ...report });
    return report;
  } catch (error: unknown) {
    if (error instanceof MappingNotReadyError) {
      logger.warn('mapping not ready; deciding again on the next run', { error });
      return undefined;
    }
    throw error;
  }
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
