import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { expect } from 'vitest';
import type { HealthCheckDependencies } from '../../lambdas/shared/health/types.js';
import type { HealthCheckSettings } from '../../lambdas/shared/resilience/defaults.js';
import { type Emf, recordingMetrics } from './emf.js';

/** Milliseconds instead of seconds, so that retries and timeouts run within a test. */
export const FAST_HEALTH_CHECK_SETTINGS: Partial<HealthCheckSettings> = {
  attemptTimeoutMillis: 200,
  retries: 2,
  retryInitialDelayMillis: 1,
  retryMaxDelayMillis: 5,
  checkBudgetMillis: 2_000,
};

/**
 * What a health check of `service` needs, with `client`, a silent logger, the clock stopped at `now`, the
 * fast settings, and the EMF documents it publishes kept in `published`.
 */
export function healthCheckDependencies<Client>(
  service: string,
  client: Client,
  now: Date,
): HealthCheckDependencies<Client> & { published: Emf[] } {
  const { metrics, published } = recordingMetrics(service);
  return {
    client,
    metrics,
    logger: new Logger({ logLevel: 'SILENT' }),
    now: () => now,
    settings: FAST_HEALTH_CHECK_SETTINGS,
    published,
  };
}

/** The EventBridge Scheduler event and a Lambda context of `functionName`, as the handlers get them. */
export function scheduledInvocation(
  functionName: string,
  awsRequestId: string,
): { event: ScheduledEvent; context: Context } {
  return {
    event: { 'detail-type': 'Scheduled Event' } as ScheduledEvent,
    context: {
      callbackWaitsForEmptyEventLoop: false,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:eu-west-1:111111111111:function:${functionName}`,
      memoryLimitInMB: '256',
      awsRequestId,
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: '2026/11/02/[$LATEST]abc',
      getRemainingTimeInMillis: () => 30_000,
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    },
  };
}

/**
 * Asserts that exactly one EMF document was published, in the platform's namespace, with the dimensions
 * `service` and `dimension`, `dimension` set to `value`.
 * @returns that document, for its metric values.
 */
export function expectOneHealthDocument(published: Emf[], dimension: string, value: string): Emf | undefined {
  expect(published).toHaveLength(1);
  const [emf] = published;
  expect(emf?._aws.CloudWatchMetrics[0]?.Namespace).toBe('CustomerDataPlatform');
  expect(emf?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', dimension]]);
  expect(emf?.[dimension]).toBe(value);
  return emf;
}
