import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IDashboardSegment } from 'cdk-monitoring-constructs';
import { serviceMetric } from './platformMetric.js';

/** One consumer group reading one topic: an event source mapping of the consumer. */
export interface ConsumerGroupReading {
  readonly consumerGroup: string;
  readonly topic: string;
}

export interface ConsumerGroupLagSegmentProps {
  readonly clusterName: string;
  readonly title: string;
  readonly readings: readonly ConsumerGroupReading[];
}

const HEIGHT = 6;

/**
 * What cdk-monitoring-constructs has no monitoring for: MSK's own consumer-group lag, per mapping (group
 * and topic). MSK publishes `SumOffsetLag`, `MaxOffsetLag` and `EstimatedMaxTimeLag` with the dimensions
 * Cluster Name, Consumer Group and Topic while the group is STABLE or EMPTY.
 */
export class ConsumerGroupLagSegment implements IDashboardSegment {
  private readonly props: ConsumerGroupLagSegmentProps;

  public constructor(props: ConsumerGroupLagSegmentProps) {
    this.props = props;
  }

  public widgets(): cloudwatch.IWidget[] {
    const { clusterName, readings, title } = this.props;
    const lag = (metricName: string, statistic: string) =>
      readings.map(({ consumerGroup, topic }) =>
        serviceMetric(
          'AWS/Kafka',
          metricName,
          { 'Cluster Name': clusterName, 'Consumer Group': consumerGroup, Topic: topic },
          statistic,
          `${topic} (${consumerGroup})`,
        ),
      );
    const width = 8;
    return [
      new cloudwatch.TextWidget({ markdown: `### ${title}`, width: 24, height: 1 }),
      new cloudwatch.GraphWidget({
        title: 'Records behind, all partitions (SumOffsetLag)',
        width,
        height: HEIGHT,
        left: lag('SumOffsetLag', cloudwatch.Stats.MAXIMUM),
        leftYAxis: { min: 0 },
      }),
      new cloudwatch.GraphWidget({
        title: 'Records behind, worst partition (MaxOffsetLag)',
        width,
        height: HEIGHT,
        left: lag('MaxOffsetLag', cloudwatch.Stats.MAXIMUM),
        leftYAxis: { min: 0 },
      }),
      new cloudwatch.GraphWidget({
        title: 'Seconds behind, worst partition (EstimatedMaxTimeLag)',
        width,
        height: HEIGHT,
        left: lag('EstimatedMaxTimeLag', cloudwatch.Stats.MAXIMUM),
        leftYAxis: { min: 0 },
      }),
    ];
  }

  public alarmWidgets(): cloudwatch.IWidget[] {
    return [];
  }

  public summaryWidgets(): cloudwatch.IWidget[] {
    return this.widgets();
  }
}
