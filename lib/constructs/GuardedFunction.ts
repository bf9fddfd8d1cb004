import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { DeploymentStrategy } from '../config/index.js';
import { acknowledge } from '../nag.js';
import { AlarmTopic } from './AlarmTopic.js';
import { PlatformFunction, type PlatformFunctionProps } from './PlatformFunction.js';
import { FAILURE_SCENARIOS } from './scenarioAlarmName.js';

/** The CodeDeploy traffic-shifting preset behind each strategy name of the configuration. */
export const DEPLOYMENT_CONFIGS: Readonly<Record<DeploymentStrategy, codedeploy.ILambdaDeploymentConfig>> = {
  allAtOnce: codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
  canary10Percent5Minutes: codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  canary10Percent10Minutes: codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_10MINUTES,
  canary10Percent15Minutes: codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_15MINUTES,
  linear10PercentEvery1Minute: codedeploy.LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
  linear10PercentEvery3Minutes: codedeploy.LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_3MINUTES,
  linear10PercentEvery10Minutes: codedeploy.LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_10MINUTES,
};

/** The alias every caller and event source invokes; CodeDeploy moves it from version to version. */
export const LIVE_ALIAS = 'live';

/** Minutes of p99 duration above the threshold, out of {@link DURATION_EVALUATION_MINUTES}, that alarm. */
const DURATION_DATAPOINTS_TO_ALARM = 3;
const DURATION_EVALUATION_MINUTES = 5;

export interface GuardedFunctionThresholds {
  /** Function errors of the alias in one minute that fail a deployment. */
  readonly functionErrors: number;
  /** p99 duration of the alias, in milliseconds, above which a deployment fails. */
  readonly durationP99Millis: number;
}

export interface GuardedFunctionProps extends PlatformFunctionProps {
  /** How CodeDeploy shifts traffic to a new version (from `config.deployment.strategy`). */
  readonly deploymentStrategy: DeploymentStrategy;
  readonly thresholds: GuardedFunctionThresholds;
  /**
   * Further alarms that stop and roll back a deployment, such as a dead-letter queue's depth or a
   * consumer's lag. More can be added with {@link GuardedFunction.addAlarm}.
   */
  readonly alarms?: readonly cloudwatch.AlarmBase[];
  /**
   * Where every alarm notifies, on alarm and on recovery.
   * @default - a topic of its own, encrypted with a rotating customer-managed key, TLS only
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * A {@link PlatformFunction} that is only ever invoked through its `live` alias and deployed by CodeDeploy:
 * each deployment publishes a version and shifts the alias to it by the configured strategy, watching the
 * alias's errors and p99 duration plus the caller's alarms. A failed or stopped deployment, or any alarm
 * firing while traffic shifts, rolls the alias back to the previous version. Every alarm notifies an
 * SNS topic.
 */
export class GuardedFunction extends Construct implements iam.IGrantable {
  public readonly platformFunction: PlatformFunction;
  public readonly function: nodejs.NodejsFunction;
  public readonly version: lambda.Version;
  /** The alias to invoke and to attach event sources to; never the function or `$LATEST`. */
  public readonly alias: lambda.Alias;
  public readonly deploymentGroup: codedeploy.LambdaDeploymentGroup;
  public readonly alarmTopic: sns.ITopic;
  public readonly errorsAlarm: cloudwatch.Alarm;
  public readonly durationAlarm: cloudwatch.Alarm;
  public readonly grantPrincipal: iam.IPrincipal;
  private readonly guards: cloudwatch.AlarmBase[] = [];

  public constructor(scope: Construct, id: string, props: GuardedFunctionProps) {
    super(scope, id);
    const { deploymentStrategy, thresholds, alarms = [], alarmTopic, ...functionProps } = props;

    this.platformFunction = new PlatformFunction(this, 'Function', functionProps);
    this.function = this.platformFunction.function;
    this.grantPrincipal = this.platformFunction.grantPrincipal;
    this.version = this.function.currentVersion;
    this.alias = new lambda.Alias(this, 'Live', {
      aliasName: LIVE_ALIAS,
      version: this.version,
      description: `Traffic of ${props.name}, shifted by CodeDeploy (${deploymentStrategy})`,
    });
    this.alarmTopic =
      alarmTopic ?? new AlarmTopic(this, 'AlarmTopic', { displayName: `Alarms of ${props.name}` }).topic;

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      // A bad version shows first as errors on the live alias: the alarm that rolls it back.
      alarmName: `${Stack.of(this).stackName}-s7-${FAILURE_SCENARIOS[7]}-errors`,
      alarmDescription: `${props.name}: ${thresholds.functionErrors} or more function errors in a minute on the live alias`,
      metric: this.alias.metricErrors({ period: Duration.minutes(1), statistic: cloudwatch.Stats.SUM }),
      threshold: thresholds.functionErrors,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // No invocations in a minute means no errors in it.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.durationAlarm = new cloudwatch.Alarm(this, 'DurationAlarm', {
      alarmDescription:
        `${props.name}: p99 duration above ${thresholds.durationP99Millis} ms in ` +
        `${DURATION_DATAPOINTS_TO_ALARM} of ${DURATION_EVALUATION_MINUTES} minutes on the live alias`,
      metric: this.alias.metricDuration({ period: Duration.minutes(1), statistic: cloudwatch.Stats.p(99) }),
      threshold: thresholds.durationP99Millis,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: DURATION_EVALUATION_MINUTES,
      // A single slow minute (a cold start, a failover) is not a regression; most of five is.
      datapointsToAlarm: DURATION_DATAPOINTS_TO_ALARM,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.deploymentGroup = new codedeploy.LambdaDeploymentGroup(this, 'Deployment', {
      alias: this.alias,
      deploymentConfig: DEPLOYMENT_CONFIGS[deploymentStrategy],
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });
    acknowledge(this.deploymentGroup.role, {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      reason:
        'Service role assumed only by codedeploy.amazonaws.com; the AWS-maintained policy is the documented ' +
        'minimum for Lambda deployments (read alarms, update aliases, invoke hooks named CodeDeployHook_*)',
    });

    for (const alarm of [this.errorsAlarm, this.durationAlarm, ...alarms]) this.addAlarm(alarm);
  }

  /** Every alarm guarding deployments, in the order they were added. */
  public get alarms(): readonly cloudwatch.AlarmBase[] {
    return [...this.guards];
  }

  /**
   * Adds an alarm that stops and rolls back a deployment while it is in ALARM, and makes it notify the
   * alarm topic when it fires and when it recovers.
   */
  public addAlarm(alarm: cloudwatch.AlarmBase): void {
    const notify = new actions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(notify);
    alarm.addOkAction(notify);
    this.deploymentGroup.addAlarm(alarm);
    this.guards.push(alarm);
  }
}
