import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IDashboardSegment } from 'cdk-monitoring-constructs';
import { BROKER_HEALTH_METRIC_NAMES, DIMENSIONS, SERVICES } from '../../../lambdas/shared/contracts/index.js';
import { platformMetric, serviceMetric } from './platformMetric.js';

export interface MskClusterHealthSegmentProps {
  readonly clusterName: string;
  /** MSK numbers its brokers 1..N. */
  readonly brokerCount: number;
}

const WIDTH = 8;
const HEIGHT = 6;

/**
 * What cdk-monitoring-constructs has no monitoring for: an MSK cluster's health. The scheduled health
 * check's own view (state, brokers listed against expected) beside MSK's partition metrics, which AWS
 * publishes at the DEFAULT monitoring level: offline partitions per cluster, under-replicated and
 * under-min-ISR partitions per broker.
 */
export class MskClusterHealthSegment implements IDashboardSegment {
  private readonly props: MskClusterHealthSegmentProps;

  public constructor(props: MskClusterHealthSegmentProps) {
    this.props = props;
  }

  public widgets(): cloudwatch.IWidget[] {
    const { clusterName, brokerCount } = this.props;
    const check = (metricName: string, statistic: string, label: string) =>
      platformMetric(SERVICES.brokerHealth, metricName, {
        statistic,
        label,
        dimensions: { [DIMENSIONS.clusterName]: clusterName },
      });
    const brokers = Array.from({ length: brokerCount }, (_, i) => String(i + 1));
    const perBroker = (metricName: string, label: string) =>
      brokers.map((broker) =>
        serviceMetric(
          'AWS/Kafka',
          metricName,
          { 'Cluster Name': clusterName, 'Broker ID': broker },
          cloudwatch.Stats.MAXIMUM,
          `${label}, broker ${broker}`,
        ),
      );
    return [
      new cloudwatch.TextWidget({
        markdown: `### MSK cluster **${clusterName}**`,
        width: 24,
        height: 1,
      }),
      new cloudwatch.GraphWidget({
        title: 'Health check (1 = healthy, 1 = ACTIVE)',
        width: WIDTH,
        height: HEIGHT,
        left: [
          check(BROKER_HEALTH_METRIC_NAMES.healthy, cloudwatch.Stats.MINIMUM, 'Healthy'),
          check(BROKER_HEALTH_METRIC_NAMES.stateActive, cloudwatch.Stats.MINIMUM, 'State ACTIVE'),
        ],
        leftYAxis: { min: 0, max: 1 },
      }),
      new cloudwatch.GraphWidget({
        title: 'Brokers listed / expected',
        width: WIDTH,
        height: HEIGHT,
        left: [
          check(BROKER_HEALTH_METRIC_NAMES.brokersListed, cloudwatch.Stats.MINIMUM, 'Listed'),
          check(BROKER_HEALTH_METRIC_NAMES.brokersExpected, cloudwatch.Stats.MAXIMUM, 'Expected'),
        ],
        leftYAxis: { min: 0 },
      }),
      new cloudwatch.GraphWidget({
        title: 'Offline, under-replicated, under-min-ISR partitions',
        width: WIDTH,
        height: HEIGHT,
        left: [
          serviceMetric(
            'AWS/Kafka',
            'OfflinePartitionsCount',
            { 'Cluster Name': clusterName },
            cloudwatch.Stats.MAXIMUM,
            'Offline',
          ),
          ...perBroker('UnderReplicatedPartitions', 'Under-replicated'),
          ...perBroker('UnderMinIsrPartitionCount', 'Under min ISR'),
        ],
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
