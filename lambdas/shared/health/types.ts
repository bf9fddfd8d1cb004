import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE } from '../contracts/index.js';
import type { HealthCheckSettings } from '../resilience/defaults.js';

/** The CloudWatch namespace of every health metric, shared with the platform's other metrics. */
export const HEALTH_METRICS_NAMESPACE = METRIC_NAMESPACE;

export type HealthLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** A Powertools `Metrics` (the module-level one in Lambda); the check publishes what it adds. */
export type HealthMetrics = Pick<Metrics, 'addDimension' | 'addMetric' | 'publishStoredMetrics'>;

/** What a health check needs besides its SDK client, passed in so that tests control each of them. */
export interface HealthCheckDependencies<Client> {
  readonly client: Client;
  readonly metrics: HealthMetrics;
  readonly logger: HealthLogger;
  /** The clock; `checkedAt` and event windows derive from it. */
  readonly now: () => Date;
  /** Overrides of {@link HEALTH_CHECK_DEFAULTS}. */
  readonly settings?: Partial<HealthCheckSettings>;
}
