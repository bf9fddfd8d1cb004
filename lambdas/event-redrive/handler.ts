import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { SQSClient } from '@aws-sdk/client-sqs';
import { METRIC_NAMESPACE, REPLAY_METRIC_NAMES, SERVICES } from '../shared/contracts/index.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { mskEventLogFromEnvironment } from '../shared/replay/mskEventLog.js';
import { type RedriveReport, redriveFailures } from '../shared/replay/redrive.js';
import { SqsRedriveSource } from '../shared/replay/SqsRedriveSource.js';
import { readEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'event-redrive' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.eventRedrive });
const sqs = new SQSClient({});
const kafka = new KafkaClient({});

/**
 * Invoked by operators once a bad consumer version is rolled back or fixed: copies the record ranges of
 * every failed batch in the consumer's on-failure queue (FAILURE_QUEUE_URL) to RETRY_TOPIC on the MSK
 * cluster CLUSTER_ARN, where the consumer's second mapping applies them, and deletes those messages. Dead
 * letters (poison records) stay in the queue. Returns what it redrove.
 *
 * @throws {EventLogUnavailableError} or {EventLogRequestError} when the cluster fails; nothing of that round
 *   is deleted, so a second invocation redrives it.
 */
export const handler = lambdaHandler(async (_event: unknown): Promise<RedriveReport> => {
  const env = readEnvironment();
  const eventLog = mskEventLogFromEnvironment('cdp-event-redrive', { kafkaClient: kafka, logger });
  try {
    const report = await redriveFailures(new SqsRedriveSource(sqs, env.failureQueueUrl), {
      reader: eventLog,
      writer: eventLog,
      targetTopic: env.retryTopic,
      topics: [env.topic, env.retryTopic],
    });
    metrics.addMetric(REPLAY_METRIC_NAMES.eventsRedriven, MetricUnit.Count, report.replayed);
    logger.info('redrive done', { ...report });
    return report;
  } finally {
    await eventLog.close();
  }
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
