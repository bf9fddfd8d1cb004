import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { errorResponse } from '../shared/http/index.js';
import { flushStoredMetrics } from '../shared/powertools/flushStoredMetrics.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { elastiCacheFrom } from '../shared/redis/elastiCacheFromEnvironment.js';
import { createPublisher, type WiredIngest, wireIngest } from './dependencies.js';
import { readIngestEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'ingest' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.ingest });
const tracer = new Tracer({ serviceName: 'ingest' });

/** `Retry-After` when this instance cannot be wired (Secrets Manager or Redis start-up trouble). */
const WIRING_RETRY_AFTER_SECONDS = 5;

/**
 * Built once per execution environment: events go to TOPIC on the MSK cluster CLUSTER_ARN (brokers
 * discovered at the first publish), through the resilient publisher that spills to SPILLOVER_QUEUE_URL
 * (bounded by SPILLOVER_MAX_DEPTH) when the brokers are unavailable; the idempotency store is the cache
 * endpoint with its AUTH token from Secrets Manager.
 */
async function wireFromEnvironment(): Promise<WiredIngest> {
  const env = readIngestEnvironment();
  return wireIngest({
    topic: env.topic,
    publisher: createPublisher({
      topic: env.topic,
      clusterArn: env.clusterArn,
      kafkaClient: tracer.captureAWSv3Client(new KafkaClient({})),
      logger,
      settings: env.producer,
      metrics,
      spillover: {
        sqs: tracer.captureAWSv3Client(new SQSClient({})),
        queueUrl: env.spilloverQueueUrl,
        bound: env.spilloverMaxDepth,
      },
    }),
    redis: await elastiCacheFrom(env.redis),
    logger,
    metrics,
  });
}

let wired: Promise<WiredIngest> | undefined;

/** Entry point of the HTTP API's `/v1` routes (payload format 2.0). */
export const handler = lambdaHandler(
  async (event: APIGatewayProxyEventV2, context): Promise<APIGatewayProxyStructuredResultV2> => {
    wired ??= wireFromEnvironment().catch((error: unknown) => {
      wired = undefined;
      throw error;
    });
    let router: WiredIngest['router'];
    try {
      ({ router } = await wired);
    } catch (error: unknown) {
      logger.error('ingest could not be wired', { error });
      if (error instanceof RangeError || error instanceof TypeError) {
        return errorResponse(500, 'internal', 'The events could not be accepted');
      }
      return errorResponse(
        503,
        'unavailable',
        `Ingest is starting; retry after ${WIRING_RETRY_AFTER_SECONDS} s`,
        { headers: { 'retry-after': String(WIRING_RETRY_AFTER_SECONDS) } },
      );
    }
    const response = await router.resolve(event, context);
    if (response.statusCode !== undefined) tracer.putAnnotation('status', response.statusCode);
    return response;
  },
)
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(flushStoredMetrics(metrics));
