import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';

/**
 * Flushes the invocation's metrics when it stored any, after the handler returned or threw. Unlike
 * Powertools' `logMetrics`, it stays silent when nothing was stored: the HTTP functions answer many requests
 * that record no metric (a look-up by id, a failed wiring), and `logMetrics` would warn "No application
 * metrics to publish" on each of them.
 */
export function flushStoredMetrics(metrics: Metrics): MiddlewareObj {
  const flush = async (): Promise<void> => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: flush, onError: flush };
}
