import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import type { ReconciliationSteps } from '../shared/reconciliation/steps.js';
import { elastiCacheFrom } from '../shared/redis/elastiCacheFromEnvironment.js';
import { mskEventLogFromEnvironment } from '../shared/replay/mskEventLog.js';
import { parseShardMap } from '../shared/sharding/index.js';
import { type WiredReconciliation, wireReconciliation } from './dependencies.js';
import { readEnvironment } from './environment.js';

const logger = new Logger({ serviceName: 'reconciliation' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.reconciliation });
const tracer = new Tracer({ serviceName: 'reconciliation' });

/**
 * Built once per execution environment: shards from SHARD_MAP (Data API), the index on the cache
 * endpoint with its AUTH token from Secrets Manager, the events topic TOPIC and the retry topic
 * RETRY_TOPIC on the MSK cluster CLUSTER_ARN (brokers discovered on first use).
 */
async function wireFromEnvironment(): Promise<WiredReconciliation> {
  const env = readEnvironment();
  return wireReconciliation({
    shardMap: parseShardMap(env.shardMap),
    redis: await elastiCacheFrom(env.redis),
    eventLog: mskEventLogFromEnvironment('cdp-reconciliation', {
      kafkaClient: tracer.captureAWSv3Client(new KafkaClient({})),
      logger,
    }),
    topic: env.topic,
    retryTopic: env.retryTopic,
    logger,
    metrics,
  });
}

let wired: Promise<WiredReconciliation> | undefined;

const step = (name: keyof ReconciliationSteps) =>
  lambdaHandler(async (event: unknown): Promise<unknown> => {
    wired ??= wireFromEnvironment().catch((error: unknown) => {
      wired = undefined;
      throw error;
    });
    tracer.putAnnotation('step', name);
    return (await wired).steps[name](event);
  })
    .use(injectLambdaContext(logger))
    .use(captureLambdaHandler(tracer, { captureResponse: false }));

/**
 * Task `ReconcileIndex`: one shard's customers against the Redis index; missing and stale entries repaired.
 * @throws {ShardUnavailableError} or {IndexUnavailableError} (retried by the workflow).
 */
export const reconcileIndex = step('reconcileIndex');
/**
 * Task `SweepIndex`: one bounded SCAN step; index keys whose customer row does not hold the value removed.
 * @throws {ShardUnavailableError} or {IndexUnavailableError} (retried by the workflow).
 */
export const sweepIndex = step('sweepIndex');
/**
 * Tasks `Plan` (no shard: the shards and the window) and `FindEventGaps` (one shard's unapplied events).
 * @throws {ShardUnavailableError} or {EventLogUnavailableError} (retried by the workflow).
 */
export const findEventGaps = step('findEventGaps');
/**
 * Task `ReplayGaps`: re-delivers the gaps' offset ranges to the retry topic.
 * @throws {EventLogUnavailableError} (retried by the workflow).
 */
export const replayGaps = step('replayGaps');
/** Task `Report`: totals per shard and overall, logged, published as metrics and returned. */
export const report = step('report');
