import { fileURLToPath } from 'node:url';
import { type CfnElement, CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct, IConstruct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import { AlarmTopic } from '../constructs/AlarmTopic.js';
import { acknowledgeGroupPrefix } from '../constructs/acknowledgeGroupPrefix.js';
import { type EtlStep, EtlWorkflow } from '../constructs/EtlWorkflow.js';
import { PlatformFunction } from '../constructs/PlatformFunction.js';
import {
  EVENT_LOG_GROUP_PREFIX,
  type ReconciliationStep,
  ReconciliationWorkflow,
} from '../constructs/ReconciliationWorkflow.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import { ShardSchemaMigrations } from '../constructs/ShardSchemaMigrations.js';
import { shardMapEnvironment } from '../constructs/shardMapEnvironment.js';
import { logicalIdWithout } from '../constructs/stackLevelLogicalIds.js';
import type { WorkflowStateMachine } from '../constructs/WorkflowStateMachine.js';
import type { WorkflowSteps } from '../constructs/WorkflowSteps.js';
import { type DataStack, SHARD_MAP_VERSION } from './DataStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { StreamingStack } from './StreamingStack.js';
import type { WarehouseStack } from './WarehouseStack.js';

export { ETL_STEPS, type EtlStep, FAILURE_TOPIC_SUBSTITUTION } from '../constructs/EtlWorkflow.js';
export {
  EVENT_LOG_GROUP_PREFIX,
  RECONCILIATION_STEPS,
  type ReconciliationStep,
} from '../constructs/ReconciliationWorkflow.js';

export { WORKFLOWS_METRICS_NAMESPACE } from '../constructs/workflowParts.js';

export interface WorkflowsStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly streaming: StreamingStack;
  readonly data: DataStack;
  readonly warehouse: WarehouseStack;
}

/** The warehouse schema's source: a new migration changes the custom resource and re-runs it. */
const WAREHOUSE_MIGRATIONS_SOURCE = fileURLToPath(
  new URL('../../lambdas/shared/warehouse/migrations.ts', import.meta.url),
);

/** An operator's replay copies a range of the log; the longest Lambda allows. */
const REPLAY_TIMEOUT = Duration.minutes(15);
const REPLAY_MEMORY_MIB = 1_024;

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
    const logRemovalPolicy = removalPolicyOf(config.retention);
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

    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Schedules', {
      scheduleGroupName: `${prefix}-workflows`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const etlWorkflow = new EtlWorkflow(this, 'EtlWorkflow', {
      placement,
      prefix,
      settings: etlSettings,
      data,
      warehouse,
      shardMap,
      warehouseSchema: this.warehouseSchema.resource,
      failureTopic: this.notifications.topic,
      allowFailurePublish: (machine) =>
        machine.allowPublish(this.notifications.topic, this.notifications.encryptionKey),
      scheduleGroup: this.scheduleGroup,
    });
    const reconciliationWorkflow = new ReconciliationWorkflow(this, 'ReconciliationWorkflow', {
      placement,
      prefix,
      settings: reconciliationSettings,
      data,
      cluster,
      topic,
      retryTopic,
      shardMap,
      scheduleGroup: this.scheduleGroup,
    });
    this.etlSteps = etlWorkflow.steps;
    this.etl = etlWorkflow.machine;
    this.recovery = etlWorkflow.recovery;
    this.etlSchedule = etlWorkflow.schedule;
    this.recoverySchedule = etlWorkflow.recoverySchedule;
    this.reconciliationSteps = reconciliationWorkflow.steps;
    this.reconciliation = reconciliationWorkflow.machine;
    this.reconciliationSchedule = reconciliationWorkflow.schedule;
    this.alarmRecoveredRule = reconciliationWorkflow.alarmRecoveredRule;

    this.replay = new PlatformFunction(this, 'EventReplay', {
      ...placement,
      name: 'event-replay',
      description: `Copies a time or offset range of ${topic} to ${retryTopic}; invoked by operators`,
      memorySize: REPLAY_MEMORY_MIB,
      timeout: REPLAY_TIMEOUT,
      environment: { [ENV.clusterArn]: cluster.clusterArn, [ENV.topic]: topic, [ENV.retryTopic]: retryTopic },
    });
    cluster.grantReadWithGroupPrefix(this.replay, [topic], EVENT_LOG_GROUP_PREFIX);
    acknowledgeGroupPrefix(this.replay, cluster, EVENT_LOG_GROUP_PREFIX);
    cluster.grantProduce(this.replay, [retryTopic]);

    this.alarms = [...etlWorkflow.alarms, ...reconciliationWorkflow.alarms];
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

  /**
   * The workflows' resources were created in this stack itself before they moved into their constructs:
   * they keep the logical ids they had then, so that deploying the move replaces nothing.
   */
  protected override allocateLogicalId(element: CfnElement): string {
    return logicalIdWithout(element, isWorkflow) ?? super.allocateLogicalId(element);
  }
}

const isWorkflow = (scope: IConstruct): boolean =>
  scope instanceof EtlWorkflow || scope instanceof ReconciliationWorkflow;
