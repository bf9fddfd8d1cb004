import { Duration, Stack, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import type { WorkflowsConfig } from '../config/schema.js';
import type { DataStack } from '../stacks/DataStack.js';
import { acknowledgeGroupPrefix } from './acknowledgeGroupPrefix.js';
import type { KafkaCluster } from './KafkaCluster.js';
import type { PlatformFunction } from './PlatformFunction.js';
import { WorkflowStateMachine } from './WorkflowStateMachine.js';
import { WorkflowSteps } from './WorkflowSteps.js';
import {
  EXECUTION_ALARM_PERIOD,
  executionAlarm,
  requireTimeoutWithin,
  START_RETRIES,
  STEP_TIMEOUT,
  WORKFLOWS_METRICS_NAMESPACE,
  type WorkflowPlacement,
} from './workflowParts.js';

type ReconciliationSettings = WorkflowsConfig['reconciliation'];

/** The exports of `lambdas/reconciliation/handler.ts`, each a function, and its substitution. */
export const RECONCILIATION_STEPS = {
  reconcileIndex: 'ReconcileIndexFunctionArn',
  sweepIndex: 'SweepIndexFunctionArn',
  findEventGaps: 'FindEventGapsFunctionArn',
  replayGaps: 'ReplayGapsFunctionArn',
  report: 'ReportFunctionArn',
} as const;
export type ReconciliationStep = keyof typeof RECONCILIATION_STEPS;

/**
 * Prefix of the Kafka consumer groups the reconciliation and the replay read the events topic with: each
 * read joins a throw-away group `<prefix>-<uuid>` and commits nothing (lambdas/shared/replay), so the
 * consumer's offsets are never touched and the IAM grant names the prefix. It is the prefix the event log
 * code uses by default; both functions get the contract's environment, which does not override it.
 */
export const EVENT_LOG_GROUP_PREFIX = 'cdp-reconciliation';

const RECONCILIATION_STEP_SETTINGS = {
  reconcileIndex: { timeout: STEP_TIMEOUT, memorySize: 512 },
  sweepIndex: { timeout: STEP_TIMEOUT, memorySize: 512 },
  findEventGaps: { timeout: STEP_TIMEOUT, memorySize: 512 },
  replayGaps: { timeout: STEP_TIMEOUT, memorySize: 512 },
  report: { timeout: STEP_TIMEOUT },
} as const;
/**
 * What each reconciliation step reaches besides Redis. Every step reads the Redis AUTH secret, because
 * the module connects when it is wired; shards and the log are reached lazily, by the steps that use them.
 */
const RECONCILIATION_SHARD_STEPS: readonly ReconciliationStep[] = [
  'reconcileIndex',
  'sweepIndex',
  'findEventGaps',
];
const RECONCILIATION_LOG_READERS: readonly ReconciliationStep[] = ['findEventGaps', 'replayGaps'];
const RECONCILIATION_LOG_WRITERS: readonly ReconciliationStep[] = ['replayGaps'];

export interface ReconciliationWorkflowProps {
  readonly placement: WorkflowPlacement;
  /** `cdp-<environment>`: the state machine is `<prefix>-reconciliation`. */
  readonly prefix: string;
  readonly settings: ReconciliationSettings;
  readonly data: DataStack;
  readonly cluster: KafkaCluster;
  /** The events topic and the retry topic replays go to. */
  readonly topic: string;
  readonly retryTopic: string;
  /** The `SHARD_MAP` environment variable of the steps. */
  readonly shardMap: string;
  readonly scheduleGroup: scheduler.IScheduleGroup;
}

/**
 * The reconciliation of failure scenario 9 (docs/workflows.md, `step-functions/reconciliation.asl.json`):
 * repairs the Redis index against the shards and replays events the log holds but no shard applied;
 * scheduled, and started whenever an alarm of this environment returns from ALARM to OK (the moment a
 * failure is over); alarmed on failed executions.
 */
export class ReconciliationWorkflow extends Construct {
  public readonly steps: WorkflowSteps<ReconciliationStep>;
  public readonly machine: WorkflowStateMachine;
  public readonly schedule: scheduler.Schedule;
  public readonly alarmRecoveredRule: events.Rule;
  public readonly alarms: readonly cloudwatch.Alarm[];

  public constructor(scope: Construct, id: string, props: ReconciliationWorkflowProps) {
    super(scope, id);
    const { placement, settings, data, cluster, topic, retryTopic } = props;

    this.steps = new WorkflowSteps(this, 'ReconciliationSteps', {
      ...placement,
      name: 'reconciliation',
      description: 'reconciliation step',
      steps: RECONCILIATION_STEP_SETTINGS,
      environment: {
        [ENV.shardMap]: props.shardMap,
        [ENV.redisHost]: data.cache.primaryEndpoint.hostname,
        [ENV.redisPort]: Token.asString(data.cache.primaryEndpoint.port),
        [ENV.redisAuthSecretArn]: data.cache.authSecret.secretArn,
        [ENV.clusterArn]: cluster.clusterArn,
        [ENV.topic]: topic,
        [ENV.retryTopic]: retryTopic,
        [ENV.powertoolsMetricsNamespace]: WORKFLOWS_METRICS_NAMESPACE,
      },
    });
    for (const [name, fn] of Object.entries<PlatformFunction>(this.steps.functions)) {
      const step = name as ReconciliationStep;
      data.cache.grantConnect(fn);
      if (RECONCILIATION_SHARD_STEPS.includes(step)) data.grantShardAccess(fn);
      if (RECONCILIATION_LOG_READERS.includes(step)) {
        cluster.grantReadWithGroupPrefix(fn, [topic], EVENT_LOG_GROUP_PREFIX);
        acknowledgeGroupPrefix(fn, cluster, EVENT_LOG_GROUP_PREFIX);
      }
      if (RECONCILIATION_LOG_WRITERS.includes(step)) cluster.grantProduce(fn, [retryTopic]);
    }
    this.machine = new WorkflowStateMachine(this, 'Reconciliation', {
      stateMachineName: `${props.prefix}-reconciliation`,
      definitionFile: 'reconciliation.asl.json',
      substitutions: this.steps.substitutions(RECONCILIATION_STEPS),
      invokes: this.steps.all.map((step) => step.function),
      logRetentionDays: placement.logRetentionDays,
      logRemovalPolicy: placement.logRemovalPolicy,
    });
    requireTimeoutWithin(this.machine, settings.intervalMinutes, 'workflows.reconciliation.intervalMinutes');

    this.schedule = this.machine.startEvery('Schedule', {
      interval: Duration.minutes(settings.intervalMinutes),
      group: props.scheduleGroup,
      input: {},
      retryAttempts: START_RETRIES,
      description: `Reconciles the index and the event log with the shards every ${settings.intervalMinutes} minutes`,
    });
    // Whatever failed is over: repair what it left behind.
    this.alarmRecoveredRule = this.machine.startOnAlarmRecovery(
      'AlarmRecovered',
      `${props.prefix}-`,
      `${Stack.of(this).stackName}-`,
      START_RETRIES,
    );

    this.alarms = [
      executionAlarm(
        this,
        'ReconciliationFailedAlarm',
        'Reconciliation: an execution failed; index repairs or event replays may be incomplete',
        this.machine.metricFailed({ period: EXECUTION_ALARM_PERIOD }),
      ),
    ];
  }
}
