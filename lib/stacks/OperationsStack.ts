import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import {
  BROKER_HEALTH_METRIC_NAMES,
  CACHE_HEALTH_METRIC_NAMES,
  DIMENSIONS,
  ENV,
  METRIC_NAMESPACE,
  SERVICES,
} from '../../lambdas/shared/contracts/index.js';
import { AlarmTopic } from '../constructs/AlarmTopic.js';
import { PlatformFunction } from '../constructs/PlatformFunction.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { scenarioAlarmName } from '../constructs/scenarioAlarmName.js';
import { scheduleInvocation } from '../constructs/scheduleInvocation.js';
import type { DataStack } from './DataStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { StreamingStack } from './StreamingStack.js';

export interface OperationsStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly streaming: StreamingStack;
  readonly data: DataStack;
}

/** Namespace of the health metrics; each check adds its `service` and resource dimensions. */
export const HEALTH_METRICS_NAMESPACE = METRIC_NAMESPACE;

/** How often each check runs; the alarms below count in these periods. */
const CHECK_INTERVAL = Duration.minutes(1);
/** Consecutive unhealthy (or silent) checks before the health alarms fire: one bad read is not an outage. */
const UNHEALTHY_CHECKS = 2;
/**
 * Above the checks' 20 s control-plane budget, so a hanging control plane still ends in an unhealthy
 * report, and below the interval, so checks do not overlap.
 */
const CHECK_TIMEOUT = Duration.seconds(30);
/**
 * Failover events the cache check looks back on. A failover keeps its alarm up this long, long enough to
 * survive a few missed checks; then the alarm recovers on its own.
 */
const FAILOVER_LOOKBACK_MINUTES = 15;

/**
 * Scheduled health checks of the stateful tiers: one function reads the MSK cluster's control plane
 * (state, brokers per AZ), another the ElastiCache replication group's (status, replicas, recent
 * failovers). EventBridge Scheduler invokes each every minute; each publishes metrics that alarm into
 * an encrypted SNS topic. A check that stops reporting counts as unhealthy.
 */
export class OperationsStack extends PlatformStack {
  public readonly brokerHealth: PlatformFunction;
  public readonly cacheHealth: PlatformFunction;
  public readonly scheduleGroup: scheduler.ScheduleGroup;
  public readonly brokerHealthSchedule: scheduler.Schedule;
  public readonly cacheHealthSchedule: scheduler.Schedule;
  public readonly alarmTopic: AlarmTopic;
  public readonly clusterHealthAlarm: cloudwatch.Alarm;
  public readonly cacheHealthAlarm: cloudwatch.Alarm;
  public readonly cacheFailoverAlarm: cloudwatch.Alarm;

  public constructor(scope: Construct, id: string, props: OperationsStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { cluster } = props.streaming;
    const { cache } = props.data;
    const placement = {
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.retention.logRetentionDays,
      logRemovalPolicy: removalPolicyOf(config.retention),
      timeout: CHECK_TIMEOUT,
    };

    this.brokerHealth = new PlatformFunction(this, 'BrokerHealth', {
      name: 'broker-health',
      description: `Checks the state and brokers of MSK cluster ${cluster.clusterName} every minute`,
      ...placement,
      environment: {
        [ENV.clusterArn]: cluster.clusterArn,
        [ENV.expectedBrokers]: String(config.streaming.brokerCount),
      },
    });
    this.brokerHealth.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka:DescribeClusterV2', 'kafka:ListNodes'],
        resources: [cluster.clusterArn],
      }),
    );

    this.cacheHealth = new PlatformFunction(this, 'CacheHealth', {
      name: 'cache-health',
      description: 'Checks the status, replicas and failovers of the Redis index every minute',
      ...placement,
      environment: {
        [ENV.replicationGroupId]: cache.replicationGroupId,
        [ENV.eventLookbackMinutes]: String(FAILOVER_LOOKBACK_MINUTES),
      },
      wildcardResourceActions: [
        {
          action: 'elasticache:DescribeEvents',
          reason:
            'ElastiCache defines no resource type for DescribeEvents, so it can only be granted on "*"; it ' +
            'reads event messages (no data, no configuration change), and the function asks only for the ' +
            'events of its own replication group and member clusters',
        },
      ],
    });
    this.cacheHealth.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['elasticache:DescribeReplicationGroups'],
        resources: [cache.replicationGroupArn],
      }),
    );
    this.cacheHealth.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['elasticache:DescribeEvents'], resources: ['*'] }),
    );

    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'HealthChecks', {
      scheduleGroupName: `cdp-${config.name}-health-checks`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A check that fails is not retried: the next runs a minute later, and the alarms count the missing report.
    const everyMinute = (id: string, check: PlatformFunction, subject: string) =>
      scheduleInvocation(this, id, check, {
        interval: CHECK_INTERVAL,
        description: `Health check of the ${subject}, every minute`,
        scheduleGroup: this.scheduleGroup,
      });
    this.brokerHealthSchedule = everyMinute('BrokerHealthSchedule', this.brokerHealth, 'MSK cluster');
    this.cacheHealthSchedule = everyMinute('CacheHealthSchedule', this.cacheHealth, 'Redis index');

    this.alarmTopic = new AlarmTopic(this, 'Alarms', {
      displayName: `Customer data platform (${config.name}) health`,
    });
    const healthMetric = (service: string, metricName: string, dimensions: Record<string, string>) =>
      new cloudwatch.Metric({
        namespace: HEALTH_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [DIMENSIONS.service]: service, ...dimensions },
        period: CHECK_INTERVAL,
        statistic: cloudwatch.Stats.MINIMUM,
      });
    const clusterDimensions = { [DIMENSIONS.clusterName]: cluster.clusterName };
    const cacheDimensions = { [DIMENSIONS.replicationGroupId]: cache.replicationGroupId };

    this.clusterHealthAlarm = new cloudwatch.Alarm(this, 'ClusterHealthAlarm', {
      alarmDescription:
        `MSK cluster ${cluster.clusterName} unhealthy (not serving, or brokers missing) or unchecked ` +
        `for ${UNHEALTHY_CHECKS} minutes`,
      metric: healthMetric(SERVICES.brokerHealth, BROKER_HEALTH_METRIC_NAMES.healthy, clusterDimensions),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: UNHEALTHY_CHECKS,
      datapointsToAlarm: UNHEALTHY_CHECKS,
      // The check runs every minute: a missing datapoint means it failed or did not run.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.cacheHealthAlarm = new cloudwatch.Alarm(this, 'CacheHealthAlarm', {
      alarmName: scenarioAlarmName(`cdp-${config.name}`, 4, 'cache-health'),
      alarmDescription:
        `Redis index unhealthy (not serving, no primary, or no replica to fail over to) or unchecked ` +
        `for ${UNHEALTHY_CHECKS} minutes`,
      metric: healthMetric(SERVICES.cacheHealth, CACHE_HEALTH_METRIC_NAMES.healthy, cacheDimensions),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: UNHEALTHY_CHECKS,
      datapointsToAlarm: UNHEALTHY_CHECKS,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.cacheFailoverAlarm = new cloudwatch.Alarm(this, 'CacheFailoverAlarm', {
      alarmDescription:
        `Redis index failed over within the last ${FAILOVER_LOOKBACK_MINUTES} minutes; the index ` +
        'serves from the promoted replica, check that a new replica is back',
      metric: healthMetric(
        SERVICES.cacheHealth,
        CACHE_HEALTH_METRIC_NAMES.failoversRecent,
        cacheDimensions,
      ).with({
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // Not published when the events cannot be read; a silent check is the health alarm's to report.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.clusterHealthAlarm, this.cacheHealthAlarm, this.cacheFailoverAlarm]) {
      this.alarmTopic.notifyOn(alarm);
    }
  }
}
