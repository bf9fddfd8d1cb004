import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { MSKEvent } from 'aws-lambda';
import type { KafkaBatchResponse } from '../shared/consumer/batchResponse.js';
import { KafkaRecordParker } from '../shared/consumer/KafkaRecordParker.js';
import { SqsDeadLetterSink } from '../shared/consumer/SqsDeadLetterSink.js';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { KafkaPublisher } from '../shared/kafka/KafkaPublisher.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { elastiCacheFrom } from '../shared/redis/elastiCacheFromEnvironment.js';
import { parseShardMap } from '../shared/sharding/index.js';
import { type WiredConsumer, wireConsumer } from './dependencies.js';
import { readConsumerEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'consumer' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.consumer });
const tracer = new Tracer({ serviceName: 'consumer' });

/** Shown in broker logs for the connections that park records on the retry topic. */
const PARKING_CLIENT_ID = 'cdp-consumer-parking';

/**
 * Built once per execution environment: the shard map comes from the Data stack (as JSON in SHARD_MAP),
 * Redis from the cache endpoint with its AUTH token from Secrets Manager, dead letters go to the
 * consumer's encrypted on-failure queue, records of an unavailable shard to the retry topic
 * (RETRY_TOPIC on the cluster CLUSTER_ARN; the producer connects on the first parked record).
 */
async function wireFromEnvironment(): Promise<WiredConsumer> {
  const env = readConsumerEnvironment();
  const { retryTopic } = env;
  const publisher = new KafkaPublisher({
    clusterArn: env.clusterArn,
    kafkaClient: tracer.captureAWSv3Client(new KafkaClient({})),
    clientId: PARKING_CLIENT_ID,
    logger,
  });
  return wireConsumer({
    shardMap: parseShardMap(env.shardMap),
    redis: await elastiCacheFrom(env.redis),
    deadLetters: new SqsDeadLetterSink(tracer.captureAWSv3Client(new SQSClient({})), env.dlqQueueUrl),
    parking: { parker: new KafkaRecordParker(publisher, retryTopic), retryTopic },
    logger,
    metrics,
  });
}

let wired: Promise<WiredConsumer> | undefined;

/** Entry point of the MSK event source mapping (provisioned mode, ReportBatchItemFailures). */
export const handler = lambdaHandler(async (event: MSKEvent, context): Promise<KafkaBatchResponse> => {
  wired ??= wireFromEnvironment().catch((error: unknown) => {
    wired = undefined;
    throw error;
  });
  const { consumer } = await wired;
  const records = Object.values(event.records).reduce((n, list) => n + list.length, 0);
  tracer.putAnnotation('records', records);
  const response = await consumer.handle(event, context);
  tracer.putAnnotation('failedPartitions', response.batchItemFailures.length);
  return response;
})
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }));
