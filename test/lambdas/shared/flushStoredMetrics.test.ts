import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { flushStoredMetrics } from '../../../lambdas/shared/powertools/flushStoredMetrics.js';
import { lambdaHandler } from '../../../lambdas/shared/powertools/lambdaHandler.js';

const context = { awsRequestId: 'r-1', getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

function wrapped(body: (metrics: Metrics) => Promise<string>) {
  const metrics = new Metrics({ namespace: 'test', serviceName: 'flush' });
  const publish = vi.spyOn(metrics, 'publishStoredMetrics');
  const handler = lambdaHandler(async (_event: unknown) => body(metrics)).use(flushStoredMetrics(metrics));
  return { handler, metrics, publish };
}

describe('flushStoredMetrics', () => {
  it('publishes the stored metrics once after the handler returns', async () => {
    // Prepare
    const { handler, metrics, publish } = wrapped(async (m) => {
      m.addMetric('Accepted', MetricUnit.Count, 1);
      return 'ok';
    });

    // Act
    const result = await handler({}, context);

    // Assess
    expect(result).toBe('ok');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it('publishes them when the handler throws, and the error still reaches the caller', async () => {
    // Prepare
    const { handler, metrics, publish } = wrapped(async (m) => {
      m.addMetric('Failed', MetricUnit.Count, 1);
      throw new RangeError('bad input');
    });

    // Act
    const invocation = handler({}, context);

    // Assess
    await expect(invocation).rejects.toBeInstanceOf(RangeError);
    expect(publish).toHaveBeenCalledTimes(1);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it('does not call publishStoredMetrics (which would warn of no metrics) when the invocation stored none', async () => {
    // Prepare
    const { handler, publish } = wrapped(async () => 'nothing recorded');

    // Act
    await handler({}, context);

    // Assess
    expect(publish).not.toHaveBeenCalled();
  });
});
