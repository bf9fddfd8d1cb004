import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { SQSClient } from '@aws-sdk/client-sqs';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { type DrainPass, SpilloverDrainer } from '../shared/ingest/SpilloverDrainer.js';
import { SqsSpilloverBuffer } from '../shared/ingest/SqsSpilloverBuffer.js';
import { KafkaPublisher } from '../shared/kafka/KafkaPublisher.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { readDrainerEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'spillover-drainer' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.spilloverDrainer });
const tracer = new Tracer({ serviceName: 'spillover-drainer' });

/** Stop starting new passes when less than this much of the invocation is left. */
const SAFETY_MARGIN_MILLIS = 15_000;

let drainer: SpilloverDrainer | undefined;

/** Built once per execution environment, from its validated environment. */
function createDrainer(): SpilloverDrainer {
  const env = readDrainerEnvironment();
  return new SpilloverDrainer({
    spillover: new SqsSpilloverBuffer({
      sqs: tracer.captureAWSv3Client(new SQSClient({})),
      queueUrl: env.spilloverQueueUrl,
    }),
    inner: new KafkaPublisher({
      clusterArn: env.clusterArn,
      kafkaClient: tracer.captureAWSv3Client(new KafkaClient({})),
      logger,
      settings: env.producer,
    }),
    topic: env.topic,
    metrics,
    logger,
  });
}

/**
 * Scheduled every minute: republishes the spilled events (SPILLOVER_QUEUE_URL) to TOPIC on CLUSTER_ARN in
 * spill order, acknowledging each chunk only after the brokers took it. Passes repeat while the queue
 * still holds events and time is left; an unhealthy broker ends the invocation, the next one tries again.
 */
export const handler = lambdaHandler(async (_event: unknown, context): Promise<DrainPass> => {
  drainer ??= createDrainer();
  let total = 0;
  for (;;) {
    const pass = await drainer.drainOnce();
    total += pass.drained;
    if (
      pass.emptied ||
      pass.error !== undefined ||
      context.getRemainingTimeInMillis() < SAFETY_MARGIN_MILLIS
    ) {
      return { ...pass, drained: total };
    }
  }
})
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(logMetrics(metrics));
