import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { vi } from 'vitest';

export type Emf = ReturnType<Metrics['serializeMetrics']>;

/** A real Powertools Metrics whose published EMF documents are kept for the assertions. */
export function recordingMetrics(serviceName: string): { metrics: Metrics; published: Emf[] } {
  const metrics = new Metrics({ namespace: 'CustomerDataPlatform', serviceName });
  const published: Emf[] = [];
  const publish = metrics.publishStoredMetrics.bind(metrics);
  vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
    published.push(metrics.serializeMetrics());
    return publish();
  });
  return { metrics, published };
}

/** Metric values of one EMF document, by name. */
export function valuesOf(emf: Emf | undefined): Record<string, unknown> {
  const definitions = emf?._aws.CloudWatchMetrics[0]?.Metrics ?? [];
  return Object.fromEntries(definitions.map(({ Name }) => [Name, emf?.[Name]]));
}

/** A silent logger and metrics that are never flushed: for tests that do not look at either. */
export function quietTelemetry(serviceName = 'test'): { logger: Logger; metrics: Metrics } {
  return {
    logger: new Logger({ serviceName, logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'CustomerDataPlatform', serviceName }),
  };
}
