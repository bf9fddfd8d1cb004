import { setTimeout as sleep } from 'node:timers/promises';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../../lambdas/shared/powertools/lambdaHandler.js';
import { recordingMetrics, valuesOf } from '../../support/emf.js';

const contextWith = (remainingMillis: number): Context =>
  ({
    functionName: 'wrapped',
    awsRequestId: 'request-1',
    getRemainingTimeInMillis: () => remainingMillis,
  }) as Context;

describe('lambdaHandler', () => {
  it("returns the handler's result and hands it the invocation's event and context", async () => {
    // Prepare
    const context = contextWith(30_000);
    const handler = lambdaHandler(async (event: { readonly n: number }, received) => ({
      doubled: event.n * 2,
      sameContext: received === context,
    }));

    // Act
    const result = await handler({ n: 21 }, context);

    // Assess
    expect(result).toEqual({ doubled: 42, sameContext: true });
  });

  it('runs the handler to its end when the context has no time left, where Middy would abort it', async () => {
    // Prepare
    const handler = lambdaHandler(async () => {
      await sleep(20);
      return 'done';
    });

    // Act
    const result = handler({}, contextWith(0));

    // Assess
    await expect(result).resolves.toBe('done');
  });

  it("throws the handler's own error after logMetrics has published the metrics stored before it", async () => {
    // Prepare
    const { metrics, published } = recordingMetrics('wrapped');
    const failure = new RangeError('a bug');
    const handler = lambdaHandler(async () => {
      metrics.addMetric('Attempts', MetricUnit.Count, 1);
      throw failure;
    }).use(logMetrics(metrics));

    // Act
    const outcome = handler({}, contextWith(30_000));

    // Assess
    await expect(outcome).rejects.toBe(failure);
    expect(published.map(valuesOf)).toEqual([{ Attempts: 1 }]);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });
});
