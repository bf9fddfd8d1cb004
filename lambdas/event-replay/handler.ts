import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
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
export const handler = lambdaHandler(async (event: unknown): Promise<ReplayResult> => {
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
})
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
