import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRIC_NAMESPACE } from '../../../lambdas/shared/contracts/index.js';

/** The namespace every handler publishes its Powertools metrics in. */
export const PLATFORM_NAMESPACE = METRIC_NAMESPACE;

/** The period of every graph of the dashboard: the handlers and health checks report each minute. */
export const GRAPH_PERIOD = Duration.minutes(1);

export interface PlatformMetricOptions {
  /** @default Sum */
  readonly statistic?: string;
  readonly label?: string;
  /** Dimensions besides `service` (for example `shard`, `ClusterName`). */
  readonly dimensions?: Readonly<Record<string, string>>;
}

/**
 * A metric one handler publishes: Powertools adds the handler's `service` as a dimension, so the
 * dimension set is `service` plus whatever the code adds (see docs/operations.md).
 */
export function platformMetric(
  service: string,
  metricName: string,
  options: PlatformMetricOptions = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: PLATFORM_NAMESPACE,
    metricName,
    dimensionsMap: { service, ...options.dimensions },
    statistic: options.statistic ?? cloudwatch.Stats.SUM,
    period: GRAPH_PERIOD,
    label: options.label ?? metricName,
  });
}

/** A metric of an AWS service namespace, at the dashboard's period. */
export function serviceMetric(
  namespace: string,
  metricName: string,
  dimensions: Readonly<Record<string, string>>,
  statistic: string,
  label?: string,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace,
    metricName,
    dimensionsMap: { ...dimensions },
    statistic,
    period: GRAPH_PERIOD,
    ...(label === undefined ? {} : { label }),
  });
}

/**
 * `metric` as a rate per second over each period (a sum divided by the period's seconds). `id` names the
 * metric inside the expression; it must be unique within a graph.
 */
export function perSecond(id: string, metric: cloudwatch.Metric, label: string): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `${id} / PERIOD(${id})`,
    usingMetrics: { [id]: metric },
    label,
    period: GRAPH_PERIOD,
  });
}
