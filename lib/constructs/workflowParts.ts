import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { METRIC_NAMESPACE } from '../../lambdas/shared/contracts/index.js';
import type { WorkflowStateMachine } from './WorkflowStateMachine.js';

/** Namespace of the workflow functions' Powertools metrics (`POWERTOOLS_METRICS_NAMESPACE`). */
export const WORKFLOWS_METRICS_NAMESPACE = METRIC_NAMESPACE;

/** One step works on one shard or one page of the index; the workflow, not Lambda, retries it. */
export const STEP_TIMEOUT = Duration.minutes(5);

/** The period of the alarms on failed and timed-out executions. */
export const EXECUTION_ALARM_PERIOD = Duration.minutes(5);

/** A scheduled start that failed is retried this often before the run is left to the next schedule. */
export const START_RETRIES = 2;

/** Where a workflow's functions run and how long their logs are kept. */
export interface WorkflowPlacement {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroups: readonly ec2.ISecurityGroup[];
  readonly logRetentionDays: number;
  readonly logRemovalPolicy: RemovalPolicy;
}

/**
 * A run must be over, one way or the other, before the next is due.
 * @throws {Error} naming the setting when a workflow's schedule is shorter than its TimeoutSeconds.
 */
export function requireTimeoutWithin(
  workflow: WorkflowStateMachine,
  intervalMinutes: number,
  setting: string,
): void {
  if (intervalMinutes * 60 < workflow.timeout.toSeconds()) {
    throw new Error(
      `${setting}: ${intervalMinutes} minutes is shorter than the definition's TimeoutSeconds ` +
        `(${workflow.timeout.toSeconds()} s); runs would pile up`,
    );
  }
}

/** An alarm on executions that ended one way (failed, timed out) within a period. */
export function executionAlarm(
  scope: Construct,
  id: string,
  description: string,
  metric: cloudwatch.Metric,
  alarmName?: string,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    ...(alarmName === undefined ? {} : { alarmName }),
    alarmDescription: description,
    metric,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    // Step Functions publishes only for executions that ended that way.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
