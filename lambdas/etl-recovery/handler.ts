import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { ScheduledEvent } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import { type RecoveryReport, recoverBatches } from '../shared/etl/recoverBatches.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import { wireRecovery } from './dependencies.js';

const logger = new Logger({ serviceName: 'etl-recovery' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.etlRecovery });
const tracer = new Tracer({ serviceName: 'etl-recovery' });

// One attempt per send: the named start policy owns the retries.
const sfn = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 1 }));

let wired: ReturnType<typeof wireRecovery> | undefined;

/**
 * Entry point of the scheduled ETL recovery job: publishes `WarehouseStalenessSeconds` and
 * `FailedBatches`, and starts a re-run of every FAILED batch that has re-runs left.
 *
 * @throws {EtlConfigError} when a setting is missing or invalid.
 * @throws {SqlError} when the warehouse cannot be read.
 */
export const handler = lambdaHandler(async (_event: ScheduledEvent): Promise<RecoveryReport> => {
  wired ??= wireRecovery(process.env, { sfn, logger, metrics });
  const report = await recoverBatches(wired);
  tracer.putAnnotation('failedBatches', report.failedBatches);
  return report;
})
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(logMetrics(metrics));
