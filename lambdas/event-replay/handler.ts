import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { KafkaClient } from '@aws-sdk/client-kafka';
import type { Context } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { mskEventLogFromEnvironment } from '../shared/replay/mskEventLog.js';
import { type ReplayResult, replayEvents } from './dependencies.js';
import { readEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'event-replay' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.eventReplay });
const tracer = new Tracer({ serviceName: 'event-replay' });

let replay: ((input: unknown) => Promise<ReplayResult>) | undefined;

/**
 * Invoked by operators: `{ from, to }` (ISO-8601) or `{ partition, fromOffset, toOffset }` of TOPIC on the
 * MSK cluster CLUSTER_ARN, copied unchanged to RETRY_TOPIC, which the consumer also reads.
 *
 * @throws {InvalidReplayRequestError} saying what is wrong with the input.
 * @throws {EventLogUnavailableError} or {EventLogRequestError} when the cluster fails.
 */
export const handler = async (event: unknown, context: Context): Promise<ReplayResult> => {
  logger.addContext(context);
  const env = readEnvironment();
  replay ??= replayEvents({
    eventLog: mskEventLogFromEnvironment('cdp-event-replay', {
      kafkaClient: tracer.captureAWSv3Client(new KafkaClient({})),
      logger,
    }),
    topic: env.topic,
    retryTopic: env.retryTopic,
    logger,
    metrics,
  });
  const result = await replay(event);
  tracer.putAnnotation('replayed', result.replayed);
  return result;
};
