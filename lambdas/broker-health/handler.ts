import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import type { ScheduledEvent } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import {
  type BrokerHealthReport,
  brokerHealthConfigFrom,
  checkBrokerHealth,
} from '../shared/health/brokerHealth.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';

const logger = new Logger({ serviceName: 'broker-health' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.brokerHealth });
const tracer = new Tracer({ serviceName: 'broker-health' });

// One attempt per send: the named control-plane policy owns retries and timeouts, so the check's budget holds.
const kafka = tracer.captureAWSv3Client(new KafkaClient({ maxAttempts: 1 }));

/**
 * Entry point of the scheduled MSK health check. Returns the report (also published as metrics).
 *
 * @throws {HealthCheckConfigError} when `CLUSTER_ARN` or `EXPECTED_BROKERS` is missing or invalid, or
 *   the function may not read the cluster.
 */
export const handler = lambdaHandler(async (_event: ScheduledEvent): Promise<BrokerHealthReport> => {
  const config = brokerHealthConfigFrom(process.env);
  const report = await checkBrokerHealth(config, {
    client: kafka,
    metrics,
    logger,
    now: () => new Date(),
  });
  tracer.putAnnotation('healthy', report.healthy);
  return report;
})
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
