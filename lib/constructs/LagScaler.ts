import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { ManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import { PlatformFunction, type PlatformFunctionProps } from './PlatformFunction.js';
import { scheduleInvocation } from './scheduleInvocation.js';

/** When and how far the scaler moves the mapping's minimum pollers (lib/config `consumer.scaling`). */
export interface LagScalingSettings {
  readonly floor: number;
  readonly ceiling: number;
  readonly step: number;
  readonly cooldownSeconds: number;
  readonly highLag: number;
  readonly lowLag: number;
  readonly lowLagMinutes: number;
}

export interface LagScalerProps
  extends Pick<
    PlatformFunctionProps,
    'vpc' | 'subnets' | 'securityGroups' | 'logRetentionDays' | 'logRemovalPolicy'
  > {
  /** `cdp-<env>`: prefixes the alarm names the function reads. */
  readonly namePrefix: string;
  /** The mapping whose minimum pollers are scaled (the events topic's). */
  readonly mapping: ManagedKafkaEventSource;
  /** The consumer function: its `OffsetLag` is one signal. */
  readonly consumerFunctionName: string;
  /** The MSK cluster's name and the mapping's consumer group: MSK's own `MaxOffsetLag` is the other. */
  readonly clusterName: string;
  readonly consumerGroup: string;
  readonly topic: string;
  readonly settings: LagScalingSettings;
}

/** The scaler decides once a minute at most; an alarm state change brings a decision forward. */
const DECISION_INTERVAL = Duration.minutes(1);

/**
 * Scenario 6 (volume spike): the consumer's lag scaler. Two alarms on Lambda's `OffsetLag` of the consumer,
 * a high one (scale out) and a low one held for minutes (scale in: the thresholds apart, so the signals
 * cannot flap), and a function that steps the events mapping's minimum pollers within bounds, run when
 * either alarm changes state and every minute (docs/adr/0011). The function may read the two alarms and
 * read and update the one mapping, nothing else.
 */
export class LagScaler extends Construct {
  public readonly function: PlatformFunction;
  public readonly highLagAlarm: cloudwatch.Alarm;
  /** MSK's view of the same group's lag, published per topic while the group is stable or empty. */
  public readonly groupLagAlarm: cloudwatch.Alarm;
  public readonly lowLagAlarm: cloudwatch.Alarm;
  public readonly alarmRule: events.Rule;

  public constructor(scope: Construct, id: string, props: LagScalerProps) {
    super(scope, id);
    const { settings } = props;
    const lag = (period: Duration) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName: 'OffsetLag',
        dimensionsMap: { FunctionName: props.consumerFunctionName },
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      });
    // Named outside the environment's `cdp-<env>-` alarms on purpose: these are scaling signals, not failures,
    // and the low one returns to OK whenever traffic picks up; it must not start the reconciliation that
    // every other alarm of the environment starts when it recovers.
    const highName = `scaler-${props.namePrefix}-consumer-lag-high`;
    const lowName = `scaler-${props.namePrefix}-consumer-lag-low`;
    this.highLagAlarm = new cloudwatch.Alarm(this, 'HighLagAlarm', {
      alarmName: highName,
      alarmDescription:
        `6. Message volume spike: ${props.topic} lags by ${settings.highLag} records or more; ` +
        'the lag scaler adds pollers',
      metric: lag(Duration.minutes(1)),
      threshold: settings.highLag,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const groupName = `scaler-${props.namePrefix}-consumer-group-lag-high`;
    this.groupLagAlarm = new cloudwatch.Alarm(this, 'GroupLagAlarm', {
      alarmName: groupName,
      alarmDescription:
        `6. Message volume spike: MSK reports a partition of ${props.topic} lagging by ${settings.highLag} ` +
        `records or more for ${props.consumerGroup}; the lag scaler adds pollers`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Kafka',
        metricName: 'MaxOffsetLag',
        dimensionsMap: {
          'Cluster Name': props.clusterName,
          'Consumer Group': props.consumerGroup,
          Topic: props.topic,
        },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: settings.highLag,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.lowLagAlarm = new cloudwatch.Alarm(this, 'LowLagAlarm', {
      alarmName: lowName,
      alarmDescription:
        `6. Message volume spike, over: ${props.topic} lags by at most ${settings.lowLag} records for ` +
        `${settings.lowLagMinutes} minutes; the lag scaler removes pollers`,
      metric: lag(Duration.minutes(1)),
      threshold: settings.lowLag,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: settings.lowLagMinutes,
      datapointsToAlarm: settings.lowLagMinutes,
      // No lag published means no poller is fetching anything: as good as no lag.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.function = new PlatformFunction(this, 'Function', {
      name: 'lag-scaler',
      description: `Steps the minimum pollers of the ${props.topic} mapping on its lag alarms`,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroups: props.securityGroups,
      logRetentionDays: props.logRetentionDays,
      ...(props.logRemovalPolicy === undefined ? {} : { logRemovalPolicy: props.logRemovalPolicy }),
      timeout: Duration.seconds(30),
      environment: {
        [ENV.mappingUuid]: props.mapping.eventSourceMappingId,
        [ENV.highLagAlarms]: [highName, groupName].join(','),
        [ENV.lowLagAlarm]: lowName,
        [ENV.scalingFloor]: String(settings.floor),
        [ENV.scalingCeiling]: String(settings.ceiling),
        [ENV.scalingStep]: String(settings.step),
        [ENV.scalingCooldownSeconds]: String(settings.cooldownSeconds),
      },
    });
    this.function.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
        resources: [props.mapping.eventSourceMappingArn],
      }),
    );
    this.function.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:DescribeAlarms'],
        resources: [this.highLagAlarm.alarmArn, this.groupLagAlarm.alarmArn, this.lowLagAlarm.alarmArn],
      }),
    );

    const { region, account } = Stack.of(this);
    this.alarmRule = new events.Rule(this, 'LagAlarmChanges', {
      description: 'Runs the lag scaler when a consumer lag alarm changes state',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        resources: [this.highLagAlarm.alarmArn, this.groupLagAlarm.alarmArn, this.lowLagAlarm.alarmArn],
        region: [region],
        account: [account],
      },
      targets: [new targets.LambdaFunction(this.function.function, { retryAttempts: 2 })],
    });
    scheduleInvocation(this, 'Schedule', this.function, {
      interval: DECISION_INTERVAL,
      description: `Lag scaler of ${props.topic}: re-decides every minute while a lag alarm holds`,
    });
  }
}
