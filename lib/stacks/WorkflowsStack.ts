import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import {
  DIMENSIONS,
  ENV,
  ETL_METRIC_NAMES,
  METRIC_NAMESPACE,
  SERVICES,
} from '../../lambdas/shared/contracts/index.js';
import { AlarmTopic } from '../constructs/AlarmTopic.js';
import type { KafkaCluster } from '../constructs/KafkaCluster.js';
import { PlatformFunction } from '../constructs/PlatformFunction.js';
import { ShardSchemaMigrations } from '../constructs/ShardSchemaMigrations.js';
import { scenarioAlarmName } from '../constructs/scenarioAlarmName.js';
import { scheduleInvocation } from '../constructs/scheduleInvocation.js';
import { WorkflowStateMachine } from '../constructs/WorkflowStateMachine.js';
import { WorkflowSteps } from '../constructs/WorkflowSteps.js';
import { acknowledge } from '../nag.js';
import { type DataStack, SHARD_MAP_VERSION } from './DataStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { StreamingStack } from './StreamingStack.js';
import { shardMapEnvironment } from './shardMapEnvironment.js';
import type { WarehouseStack } from './WarehouseStack.js';

export interface WorkflowsStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly streaming: StreamingStack;
  readonly data: DataStack;
  readonly warehouse: WarehouseStack;
}

/** Namespace of the workflow functions' Powertools metrics (`POWERTOOLS_METRICS_NAMESPACE`). */
export const WORKFLOWS_METRICS_NAMESPACE = METRIC_NAMESPACE;

/** The exports of `lambdas/etl/handler.ts`, each a function, and the substitution carrying its ARN. */
export const ETL_STEPS = {
  openBatch: 'OpenBatchFunctionArn',
  extractLoad: 'ExtractLoadFunctionArn',
  validateShard: 'ValidateShardFunctionArn',
  closeBatch: 'CloseBatchFunctionArn',
} as const;
export type EtlStep = keyof typeof ETL_STEPS;

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

/** The substitution carrying the failure notification topic of the ETL. */
export const FAILURE_TOPIC_SUBSTITUTION = 'FailureTopicArn';

/** The warehouse schema's source: a new migration changes the custom resource and re-runs it. */
const WAREHOUSE_MIGRATIONS_SOURCE = fileURLToPath(
  new URL('../../lambdas/shared/warehouse/migrations.ts', import.meta.url),
);

/** One step works on one shard or one page of the index; the workflow, not Lambda, retries it. */
const STEP_TIMEOUT = Duration.minutes(5);
/** ETL steps: the extract-load moves a shard's window in pages and needs the memory for them. */
const ETL_STEP_SETTINGS = {
  openBatch: { timeout: STEP_TIMEOUT },
  extractLoad: { timeout: STEP_TIMEOUT, memorySize: 1_024 },
  validateShard: { timeout: STEP_TIMEOUT, memorySize: 512 },
  closeBatch: { timeout: STEP_TIMEOUT },
} as const;
/** The ETL steps that read the shards; every step reaches the warehouse. */
const ETL_SHARD_STEPS: readonly EtlStep[] = ['extractLoad', 'validateShard'];
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

/** Reads the warehouse's batch table and starts a few executions. */
const RECOVERY_TIMEOUT = Duration.minutes(1);
/** Past the ETL execution timeout, before a batch still RUNNING counts as abandoned (clock skew, slow stop). */
const ABANDON_MARGIN = Duration.minutes(5);
/** An operator's replay copies a range of the log; the longest Lambda allows. */
const REPLAY_TIMEOUT = Duration.minutes(15);
const REPLAY_MEMORY_MIB = 1_024;
/** A scheduled start that failed is retried this often before the run is left to the next schedule. */
const START_RETRIES = 2;

/**
 * The workflows of failure scenarios 8 and 9 (docs/workflows.md):
 *
 * - ETL: a Step Functions state machine (`step-functions/etl.asl.json`) started by EventBridge Scheduler
 *   every `workflows.etl.intervalMinutes`, loading every shard's changes into the warehouse batch by batch
 *   and publishing a failure to an SNS topic; a recovery function on its own schedule publishes
 *   `WarehouseStalenessSeconds` and `FailedBatches` and re-runs failed batches.
 * - Reconciliation (`step-functions/reconciliation.asl.json`): repairs the Redis index against the shards
 *   and replays events the log holds but no shard applied; scheduled, and started whenever an alarm of this
 *   environment returns from ALARM to OK (the moment a failure is over).
 * - Event replay: a function operators invoke with a time or offset range of the events topic.
 *
 * The warehouse schema is migrated (a custom resource) before any function that reads it is deployed.
 * Alarms on failed and timed-out executions, staleness and failed batches notify an encrypted topic,
 * the same one the ETL publishes its failures to.
 */
export class WorkflowsStack extends PlatformStack {
  public readonly warehouseSchema: ShardSchemaMigrations;
  public readonly notifications: AlarmTopic;
  public readonly etlSteps: WorkflowSteps<EtlStep>;
  public readonly etl: WorkflowStateMachine;
  public readonly recovery: PlatformFunction;
  public readonly reconciliationSteps: WorkflowSteps<ReconciliationStep>;
  public readonly reconciliation: WorkflowStateMachine;
  public readonly replay: PlatformFunction;
  public readonly scheduleGroup: scheduler.ScheduleGroup;
  public readonly etlSchedule: scheduler.Schedule;
  public readonly recoverySchedule: scheduler.Schedule;
  public readonly reconciliationSchedule: scheduler.Schedule;
  public readonly alarmRecoveredRule: events.Rule;
  public readonly alarms: readonly cloudwatch.Alarm[];

  public constructor(scope: Construct, id: string, props: WorkflowsStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { etl: etlSettings, reconciliation: reconciliationSettings, logRetentionDays } = config.workflows;
    const { data, streaming, warehouse } = props;
    const { cluster } = streaming;
    const { topic, retryTopic } = config.consumer;
    const logRemovalPolicy = config.name === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const placement = {
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays,
      logRemovalPolicy,
    };
    const prefix = `cdp-${config.name}`;
    const shardMap = shardMapEnvironment(this, data, 'workflows');
    const warehouseCluster = warehouse.warehouse;
    const warehouseEnvironment = {
      [ENV.warehouseClusterArn]: warehouseCluster.clusterArn,
      [ENV.warehouseSecretArn]: warehouseCluster.secret.secretArn,
      [ENV.warehouseDatabase]: warehouseCluster.databaseName,
    };

    // The warehouse as a one-entry shard map: the shard migrations handler runs the warehouse migrations.
    this.warehouseSchema = new ShardSchemaMigrations(this, 'WarehouseSchema', {
      ...placement,
      shardMap: this.toJsonString({
        version: SHARD_MAP_VERSION,
        shards: [
          {
            id: 'shard-0',
            clusterArn: warehouseCluster.clusterArn,
            secretArn: warehouseCluster.secret.secretArn,
            database: warehouseCluster.databaseName,
          },
        ],
      }),
      schema: {
        handlerName: 'warehouse-migrations',
        description: 'Applies the warehouse schema migrations to the analytics warehouse',
        migrationsSource: WAREHOUSE_MIGRATIONS_SOURCE,
        resourceType: 'Custom::WarehouseSchemaMigrations',
      },
    });
    warehouse.grantDataApiAccess(this.warehouseSchema.handler);

    this.notifications = new AlarmTopic(this, 'Notifications', {
      displayName: `Customer data platform (${config.name}) workflows`,
    });

    this.etlSteps = new WorkflowSteps(this, 'EtlSteps', {
      ...placement,
      name: 'etl',
      description: 'ETL step, shards to the analytics warehouse',
      steps: ETL_STEP_SETTINGS,
      environment: {
        [ENV.shardMap]: shardMap,
        ...warehouseEnvironment,
        [ENV.etlSettleSeconds]: String(etlSettings.settleSeconds),
        [ENV.powertoolsMetricsNamespace]: WORKFLOWS_METRICS_NAMESPACE,
      },
    });
    for (const [step, fn] of Object.entries<PlatformFunction>(this.etlSteps.functions)) {
      warehouse.grantDataApiAccess(fn);
      if (ETL_SHARD_STEPS.includes(step as EtlStep)) data.grantShardAccess(fn);
      // Never load into a schema the step does not know.
      fn.function.node.addDependency(this.warehouseSchema.resource);
    }
    this.etl = new WorkflowStateMachine(this, 'Etl', {
      stateMachineName: `${prefix}-etl`,
      definitionFile: 'etl.asl.json',
      substitutions: {
        ...this.etlSteps.substitutions(ETL_STEPS),
        [FAILURE_TOPIC_SUBSTITUTION]: this.notifications.topic.topicArn,
      },
      invokes: this.etlSteps.all.map((step) => step.function),
      logRetentionDays,
      logRemovalPolicy,
    });
    this.etl.allowPublish(this.notifications.topic, this.notifications.encryptionKey);

    this.recovery = new PlatformFunction(this, 'EtlRecovery', {
      ...placement,
      name: SERVICES.etlRecovery,
      description: 'Publishes the warehouse staleness and re-runs failed ETL batches',
      timeout: RECOVERY_TIMEOUT,
      environment: {
        ...warehouseEnvironment,
        [ENV.etlStateMachineArn]: this.etl.stateMachineArn,
        [ENV.etlMaxRetries]: String(etlSettings.maxRetries),
        // An execution past its TimeoutSeconds is stopped before it can close its batch: the batch stays
        // RUNNING until this job marks it FAILED and re-runs it.
        [ENV.etlAbandonAfterSeconds]: String(this.etl.timeout.plus(ABANDON_MARGIN).toSeconds()),
        [ENV.powertoolsMetricsNamespace]: WORKFLOWS_METRICS_NAMESPACE,
      },
    });
    warehouse.grantDataApiAccess(this.recovery);
    this.etl.grantStartExecution(this.recovery);
    this.recovery.function.node.addDependency(this.warehouseSchema.resource);

    const kafkaEnvironment = {
      [ENV.clusterArn]: cluster.clusterArn,
      [ENV.topic]: topic,
      [ENV.retryTopic]: retryTopic,
    };
    this.reconciliationSteps = new WorkflowSteps(this, 'ReconciliationSteps', {
      ...placement,
      name: 'reconciliation',
      description: 'reconciliation step',
      steps: RECONCILIATION_STEP_SETTINGS,
      environment: {
        [ENV.shardMap]: shardMap,
        [ENV.redisHost]: data.cache.primaryEndpoint.hostname,
        [ENV.redisPort]: Token.asString(data.cache.primaryEndpoint.port),
        [ENV.redisAuthSecretArn]: data.cache.authSecret.secretArn,
        ...kafkaEnvironment,
        [ENV.powertoolsMetricsNamespace]: WORKFLOWS_METRICS_NAMESPACE,
      },
    });
    for (const [name, fn] of Object.entries<PlatformFunction>(this.reconciliationSteps.functions)) {
      const step = name as ReconciliationStep;
      data.cache.grantConnect(fn);
      if (RECONCILIATION_SHARD_STEPS.includes(step)) data.grantShardAccess(fn);
      if (RECONCILIATION_LOG_READERS.includes(step)) {
        cluster.grantReadWithGroupPrefix(fn, [topic], EVENT_LOG_GROUP_PREFIX);
        this.acknowledgeGroupPrefix(fn, cluster, EVENT_LOG_GROUP_PREFIX);
      }
      if (RECONCILIATION_LOG_WRITERS.includes(step)) cluster.grantProduce(fn, [retryTopic]);
    }
    this.reconciliation = new WorkflowStateMachine(this, 'Reconciliation', {
      stateMachineName: `${prefix}-reconciliation`,
      definitionFile: 'reconciliation.asl.json',
      substitutions: this.reconciliationSteps.substitutions(RECONCILIATION_STEPS),
      invokes: this.reconciliationSteps.all.map((step) => step.function),
      logRetentionDays,
      logRemovalPolicy,
    });
    requireTimeoutWithin(this.etl, etlSettings.intervalMinutes, 'workflows.etl.intervalMinutes');
    requireTimeoutWithin(
      this.reconciliation,
      reconciliationSettings.intervalMinutes,
      'workflows.reconciliation.intervalMinutes',
    );

    this.replay = new PlatformFunction(this, 'EventReplay', {
      ...placement,
      name: 'event-replay',
      description: `Copies a time or offset range of ${topic} to ${retryTopic}; invoked by operators`,
      memorySize: REPLAY_MEMORY_MIB,
      timeout: REPLAY_TIMEOUT,
      environment: kafkaEnvironment,
    });
    cluster.grantReadWithGroupPrefix(this.replay, [topic], EVENT_LOG_GROUP_PREFIX);
    this.acknowledgeGroupPrefix(this.replay, cluster, EVENT_LOG_GROUP_PREFIX);
    cluster.grantProduce(this.replay, [retryTopic]);

    // Schedules.
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Schedules', {
      scheduleGroupName: `${prefix}-workflows`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.etlSchedule = this.etl.startEvery('Schedule', {
      interval: Duration.minutes(etlSettings.intervalMinutes),
      group: this.scheduleGroup,
      // `{}` opens a new batch (docs/workflows.md).
      input: {},
      retryAttempts: START_RETRIES,
      description: `Starts the ETL into the warehouse every ${etlSettings.intervalMinutes} minutes`,
    });
    const recoveryInterval = Duration.minutes(etlSettings.recoveryIntervalMinutes);
    this.recoverySchedule = scheduleInvocation(this, 'EtlRecoverySchedule', this.recovery, {
      interval: recoveryInterval,
      description: `Runs ${this.recovery.node.id} every ${recoveryInterval.toMinutes()} minutes`,
      scheduleGroup: this.scheduleGroup,
    });
    this.reconciliationSchedule = this.reconciliation.startEvery('Schedule', {
      interval: Duration.minutes(reconciliationSettings.intervalMinutes),
      group: this.scheduleGroup,
      input: {},
      retryAttempts: START_RETRIES,
      description: `Reconciles the index and the event log with the shards every ${reconciliationSettings.intervalMinutes} minutes`,
    });
    // Whatever failed is over: repair what it left behind.
    this.alarmRecoveredRule = this.reconciliation.startOnAlarmRecovery(
      'AlarmRecovered',
      `${prefix}-`,
      `${this.stackName}-`,
      START_RETRIES,
    );

    this.alarms = this.createAlarms();
    for (const alarm of this.alarms) this.notifications.notifyOn(alarm);

    new CfnOutput(this, 'EtlStateMachineArn', {
      description:
        'The ETL state machine; start it with {} for a new batch or {"batchId": "..."} to re-run one',
      value: this.etl.stateMachineArn,
    });
    new CfnOutput(this, 'ReconciliationStateMachineArn', {
      description: 'The reconciliation state machine',
      value: this.reconciliation.stateMachineArn,
    });
    new CfnOutput(this, 'ReplayFunctionName', {
      description:
        'Invoke with {"from","to"} (ISO-8601) or {"partition","fromOffset","toOffset"} to replay events',
      value: this.replay.function.functionName,
    });
  }

  private createAlarms(): cloudwatch.Alarm[] {
    const { etl: etlSettings } = this.config.workflows;
    const executionPeriod = Duration.minutes(5);
    const executionAlarm = (id: string, description: string, metric: cloudwatch.Metric, alarmName?: string) =>
      new cloudwatch.Alarm(this, id, {
        ...(alarmName === undefined ? {} : { alarmName }),
        alarmDescription: description,
        metric,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // Step Functions publishes only for executions that ended that way.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const recoveryPeriod = Duration.minutes(etlSettings.recoveryIntervalMinutes);
    const recoveryMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: WORKFLOWS_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [DIMENSIONS.service]: SERVICES.etlRecovery },
        period: recoveryPeriod,
        statistic: cloudwatch.Stats.MAXIMUM,
      });
    const failedBatchRuns = etlSettings.maxRetries + 1;

    return [
      executionAlarm(
        'EtlFailedAlarm',
        'ETL: an execution failed; its batch is FAILED and the recovery job re-runs it',
        this.etl.metricFailed({ period: executionPeriod }),
        scenarioAlarmName(`cdp-${this.config.name}`, 9, 'executions-failed'),
      ),
      executionAlarm(
        'EtlTimedOutAlarm',
        `ETL: an execution ran longer than its ${this.etl.timeout.toSeconds()} s (TimeoutSeconds) and was stopped`,
        this.etl.metricTimedOut({ period: executionPeriod }),
      ),
      new cloudwatch.Alarm(this, 'WarehouseStalenessAlarm', {
        alarmDescription:
          `ETL: the warehouse is more than ${etlSettings.stalenessAlarmSeconds} s behind the shards, or ` +
          'the recovery job stopped reporting how far behind it is',
        metric: recoveryMetric(ETL_METRIC_NAMES.warehouseStalenessSeconds),
        threshold: etlSettings.stalenessAlarmSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // Two recovery intervals: a run that lands just past a period boundary leaves one period empty.
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        // A recovery job that stopped publishing cannot vouch for the warehouse: silence is staleness.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      new cloudwatch.Alarm(this, 'FailedBatchesAlarm', {
        alarmDescription:
          `ETL: batches stayed FAILED through ${failedBatchRuns} recovery runs; the recovery job has ` +
          `given up on any that failed ${etlSettings.maxRetries} re-runs`,
        metric: recoveryMetric(ETL_METRIC_NAMES.failedBatches),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // A batch the recovery job re-runs successfully is no page; one failing through its retries is.
        evaluationPeriods: failedBatchRuns,
        datapointsToAlarm: failedBatchRuns,
        // Silence is the staleness alarm's to report.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      executionAlarm(
        'ReconciliationFailedAlarm',
        'Reconciliation: an execution failed; index repairs or event replays may be incomplete',
        this.reconciliation.metricFailed({ period: executionPeriod }),
      ),
    ];
  }

  /** The wildcard of a read with throw-away consumer groups ({@link KafkaCluster.grantReadWithGroupPrefix}). */
  private acknowledgeGroupPrefix(fn: PlatformFunction, cluster: KafkaCluster, groupPrefix: string): void {
    const { clusterName } = cluster;
    acknowledge(fn, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kafka:${this.region}:${this.account}:group/${clusterName}/*/${groupPrefix}-*]`,
      reason:
        `Each read joins a consumer group of its own, ${groupPrefix}-<uuid>, and commits nothing, so concurrent ` +
        "reads never share partitions and the consumer's offsets are never touched; the group names are only " +
        `known at run time. The grant covers groups of that prefix on the ${clusterName} cluster only (any ` +
        'incarnation of its name), DescribeGroup and AlterGroup only; topic reads name the exact topic ARN',
    });
  }
}

/**
 * A run must be over, one way or the other, before the next is due.
 * @throws {Error} naming the setting when a workflow's schedule is shorter than its TimeoutSeconds.
 */
function requireTimeoutWithin(
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
