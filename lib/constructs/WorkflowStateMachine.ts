import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { STEP_FUNCTIONS_DIR, substitutionNamesOf } from '../../step-functions/definitions.js';
import { acknowledge } from '../nag.js';
import { allowLogsToUseKey } from './allowLogsToUseKey.js';

/** An alarm's recovery older than this (EventBridge retrying a start) no longer starts anything. */
const ALARM_EVENT_MAX_AGE = Duration.hours(1);

export interface WorkflowStateMachineProps {
  /** Physical name, also the name of its log group under `/aws/vendedlogs/states/`. */
  readonly stateMachineName: string;
  /** File name under `step-functions/`, such as `etl.asl.json`. */
  readonly definitionFile: string;
  /** A value for every `${Name}` of the definition, and nothing else. */
  readonly substitutions: Readonly<Record<string, string>>;
  /** The Lambda functions the definition's Task states invoke: the role may invoke these and no other. */
  readonly invokes: readonly lambda.IFunction[];
  /** Retention of the execution log, in days. */
  readonly logRetentionDays: number;
  /** The execution log and its key on stack deletion. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A STANDARD Step Functions state machine whose definition is a file of `step-functions/`, deployed with
 * `DefinitionBody.fromFile` and `definitionSubstitutions`. Every execution event, with its data, goes to
 * a log group encrypted with the workflow's own rotating key; executions are traced with X-Ray. Its role
 * may invoke the listed functions only; {@link allowPublish} adds one SNS topic.
 */
export class WorkflowStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  public readonly logKey: kms.Key;
  /**
   * The definition's top-level `TimeoutSeconds`: an execution running longer is stopped and counts as
   * timed out. It lives in the file because Step Functions takes it from the definition only (CDK's
   * `timeout` prop applies to definitions it builds, not to one from a file), and local runs honour it too.
   */
  public readonly timeout: Duration;

  /**
   * @throws {Error} when the definition uses a substitution that is not given, or one is given that the
   * definition does not use (a renamed placeholder would otherwise deploy unfilled); when it has no
   * top-level `TimeoutSeconds` (an execution could then run for a year).
   */
  public constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    const path = join(STEP_FUNCTIONS_DIR, props.definitionFile);
    const text = readFileSync(path, 'utf8');
    this.timeout = Duration.seconds(timeoutSecondsOf(props.definitionFile, text));
    const used = substitutionNamesOf(text);
    const given = Object.keys(props.substitutions).sort();
    const missing = used.filter((name) => !given.includes(name));
    const unused = given.filter((name) => !used.includes(name));
    if (missing.length > 0 || unused.length > 0) {
      throw new Error(
        `${props.definitionFile}: substitutions missing [${missing.join(', ')}], not in the definition ` +
          `[${unused.join(', ')}]`,
      );
    }
    const removalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    // Vended-logs prefix: Step Functions' log delivery then needs no resource policy per log group.
    const logGroupName = `/aws/vendedlogs/states/${props.stateMachineName}`;
    this.logKey = new kms.Key(this, 'LogKey', {
      description: `Execution log of the ${props.stateMachineName} state machine`,
      enableKeyRotation: true,
      // A retained log stays readable only while its key exists.
      removalPolicy,
    });
    allowLogsToUseKey(this.logKey, logGroupName);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName,
      retention: props.logRetentionDays,
      encryptionKey: this.logKey,
      removalPolicy,
    });

    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(path),
      definitionSubstitutions: { ...props.substitutions },
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    // Unqualified function ARNs, exactly as substituted: no version or alias wildcard.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: props.invokes.map((fn) => fn.functionArn),
      }),
    );

    const defaultPolicy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy !== undefined) {
      acknowledge(defaultPolicy, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Added by the StateMachine construct for execution logging and tracing: the CloudWatch Logs ' +
          'log-delivery actions (logs:CreateLogDelivery and the related Get/Update/Delete/List/' +
          'PutResourcePolicy/DescribeResourcePolicies/DescribeLogGroups) and X-Ray segment/sampling actions ' +
          'support no resource-level permissions; every Lambda and SNS permission names exact ARNs',
      });
    }
  }

  public get stateMachineArn(): string {
    return this.stateMachine.stateMachineArn;
  }

  /**
   * Lets the workflow publish to `topic` (the `arn:aws:states:::sns:publish` integration): `sns:Publish`
   * on that topic, and the data key its customer-managed key encrypts messages with.
   */
  public allowPublish(topic: sns.ITopic, topicKey: kms.IKey): void {
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
    );
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [topicKey.keyArn],
        // Only SNS, encrypting what this role publishes, may use the key on its behalf.
        conditions: { StringEquals: { 'kms:ViaService': `sns.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }

  /**
   * Starts an execution with `input` every `interval` from EventBridge Scheduler; the scheduler's role may
   * start this workflow and nothing else. A start that fails is retried `retryAttempts` times within one
   * interval, then left to the next one.
   */
  public startEvery(
    id: string,
    props: {
      readonly interval: Duration;
      readonly group: scheduler.IScheduleGroup;
      readonly input: Readonly<Record<string, unknown>>;
      readonly retryAttempts: number;
      readonly description: string;
    },
  ): scheduler.Schedule {
    return new scheduler.Schedule(this, id, {
      description: props.description,
      scheduleGroup: props.group,
      schedule: scheduler.ScheduleExpression.rate(props.interval),
      target: new StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject(props.input),
        retryAttempts: props.retryAttempts,
        maxEventAge: props.interval,
      }),
    });
  }

  /**
   * Starts an execution with `{}` whenever a CloudWatch alarm whose name starts with `alarmNamePrefix`, in
   * this account and region, goes from ALARM to OK. A new alarm's first evaluation
   * (INSUFFICIENT_DATA → OK) is no recovery and starts nothing. Alarms named with `excludedPrefix` (the
   * workflow's own, whose recovery a run of it would only repeat) start nothing either: otherwise a run
   * failing on an outage would raise its alarm, the alarm's return to OK would start a run, and so on.
   */
  public startOnAlarmRecovery(
    id: string,
    alarmNamePrefix: string,
    excludedPrefix: string,
    retryAttempts: number,
  ): events.Rule {
    const stack = Stack.of(this);
    const alarmArnPrefix = stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: alarmNamePrefix,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const rule = new events.Rule(this, id, {
      description:
        `Starts ${this.node.id} when an alarm named ${alarmNamePrefix}* (not ${excludedPrefix}*) returns ` +
        'from ALARM to OK',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        account: [stack.account],
        region: [stack.region],
        // One field takes one condition: the environment's alarms by ARN, minus the excluded ones by name.
        resources: events.Match.prefix(alarmArnPrefix),
        detail: {
          alarmName: events.Match.anythingButPrefix(excludedPrefix),
          state: { value: ['OK'] },
          previousState: { value: ['ALARM'] },
        },
      },
    });
    rule.addTarget(
      new eventTargets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromObject({}),
        retryAttempts,
        maxEventAge: ALARM_EVENT_MAX_AGE,
      }),
    );
    return rule;
  }

  /** Starting executions of this workflow, and nothing else on it. */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /** Failed executions (sum). */
  public metricFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** Executions stopped by the workflow's timeout (sum). */
  public metricTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTimedOut(props);
  }
}

/** The top-level `TimeoutSeconds` of a definition (placeholders sit inside strings, so the file parses). */
function timeoutSecondsOf(file: string, definition: string): number {
  const parsed: unknown = JSON.parse(definition);
  const seconds =
    typeof parsed === 'object' && parsed !== null && 'TimeoutSeconds' in parsed
      ? parsed.TimeoutSeconds
      : undefined;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1) {
    throw new Error(
      `${file}: needs a top-level TimeoutSeconds (a positive whole number), got ${String(seconds)}`,
    );
  }
  return seconds;
}
