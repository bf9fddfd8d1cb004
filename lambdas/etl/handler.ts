import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import type { ClosedBatch, EtlSteps, OpenedBatch, ShardOutcome } from '../shared/etl/steps.js';
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

/** Runs one step with the invocation's context in the logs; the step's metrics are published at the end. */
async function invoke<T>(name: string, context: Context, run: () => Promise<T>): Promise<T> {
  logger.addContext(context);
  tracer.putAnnotation('step', name);
  try {
    return await run();
  } finally {
    metrics.publishStoredMetrics();
  }
}

/**
 * `OpenBatch` state: `{}` opens a new batch; `{ batchId }` re-runs that batch over its window.
 * @throws {EtlTransientError} when the warehouse is unavailable (the state machine retries).
 * @throws {EtlBatchNotFoundError} when a re-run names an unknown batch.
 */
export const openBatch = (event: unknown, context: Context): Promise<OpenedBatch> =>
  invoke('openBatch', context, () => steps().openBatch(event));

/**
 * `ExtractLoad` state: copies one shard's window into the warehouse; returns counts only.
 * @throws {EtlTransientError} when the shard or the warehouse is unavailable (the state machine retries).
 */
export const extractLoad = (event: unknown, context: Context) =>
  invoke('extractLoad', context, () => steps().extractLoad(event));

/**
 * `ValidateShard` state: compares counts and checksums of the shard's window, source against warehouse.
 * @throws {EtlValidationError} when they differ (not retried).
 * @throws {EtlTransientError} when the shard or the warehouse is unavailable.
 */
export const validateShard = (event: unknown, context: Context): Promise<ShardOutcome> =>
  invoke('validateShard', context, () => steps().validateShard(event));

/**
 * `CloseBatch` state: records the batch SUCCEEDED or FAILED with the shards' errors.
 * @throws {EtlTransientError} when the warehouse is unavailable.
 */
export const closeBatch = (event: unknown, context: Context): Promise<ClosedBatch> =>
  invoke('closeBatch', context, () => steps().closeBatch(event));
