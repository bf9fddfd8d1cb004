import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import type { ClosedBatch, EtlSteps, OpenedBatch, ShardOutcome } from '../shared/etl/steps.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { type WiredEtl, wireEtl } from './dependencies.js';

const logger = new Logger({ serviceName: 'etl' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.etl });
const tracer = new Tracer({ serviceName: 'etl' });

let wired: WiredEtl | undefined;

/** Built once per execution environment, from SHARD_MAP and the warehouse variables. */
const steps = (): EtlSteps => {
  wired ??= wireEtl(process.env, { logger, metrics });
  return wired.steps;
};

/** One step's entry point: the invocation's context in the logs, its own subsegment, its metrics published at the end. */
const step = <T>(name: string, run: (event: unknown) => Promise<T>) =>
  lambdaHandler(async (event: unknown): Promise<T> => {
    tracer.putAnnotation('step', name);
    return run(event);
  })
    .use(injectLambdaContext(logger))
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(logMetrics(metrics));

/**
 * `OpenBatch` state: `{}` opens a new batch; `{ batchId }` re-runs that batch over its window.
 * @throws {EtlTransientError} when the warehouse is unavailable (the state machine retries).
 * @throws {EtlBatchNotFoundError} when a re-run names an unknown batch.
 */
export const openBatch = step('openBatch', (event): Promise<OpenedBatch> => steps().openBatch(event));

/**
 * `ExtractLoad` state: copies one shard's window into the warehouse; returns counts only.
 * @throws {EtlTransientError} when the shard or the warehouse is unavailable (the state machine retries).
 */
export const extractLoad = step('extractLoad', (event) => steps().extractLoad(event));

/**
 * `ValidateShard` state: compares counts and checksums of the shard's window, source against warehouse.
 * @throws {EtlValidationError} when they differ (not retried).
 * @throws {EtlTransientError} when the shard or the warehouse is unavailable.
 */
export const validateShard = step(
  'validateShard',
  (event): Promise<ShardOutcome> => steps().validateShard(event),
);

/**
 * `CloseBatch` state: records the batch SUCCEEDED or FAILED with the shards' errors.
 * @throws {EtlTransientError} when the warehouse is unavailable.
 */
export const closeBatch = step('closeBatch', (event): Promise<ClosedBatch> => steps().closeBatch(event));
