import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct, type IDependable } from 'constructs';
import { DIMENSIONS, ENV, ETL_METRIC_NAMES, SERVICES } from '../../lambdas/shared/contracts/index.js';
import type { WorkflowsConfig } from '../config/schema.js';
import type { DataStack } from '../stacks/DataStack.js';
import type { WarehouseStack } from '../stacks/WarehouseStack.js';
import { PlatformFunction } from './PlatformFunction.js';
import { scenarioAlarmName } from './scenarioAlarmName.js';
import { scheduleInvocation } from './scheduleInvocation.js';
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

type EtlSettings = WorkflowsConfig['etl'];

/** The exports of `lambdas/etl/handler.ts`, each a function, and the substitution carrying its ARN. */
export const ETL_STEPS = {
  openBatch: 'OpenBatchFunctionArn',
  extractLoad: 'ExtractLoadFunctionArn',
  validateShard: 'ValidateShardFunctionArn',
  closeBatch: 'CloseBatchFunctionArn',
} as const;
export type EtlStep = keyof typeof ETL_STEPS;

/** The substitution carrying the failure notification topic of the ETL. */
export const FAILURE_TOPIC_SUBSTITUTION = 'FailureTopicArn';

/** ETL steps: the extract-load moves a shard's window in pages and needs the memory for them. */
const ETL_STEP_SETTINGS = {
  openBatch: { timeout: STEP_TIMEOUT },
  extractLoad: { timeout: STEP_TIMEOUT, memorySize: 1_024 },
  validateShard: { timeout: STEP_TIMEOUT, memorySize: 512 },
  closeBatch: { timeout: STEP_TIMEOUT },
} as const;
/** The ETL steps that read the shards; every step reaches the warehouse. */
const ETL_SHARD_STEPS: readonly EtlStep[] = ['extractLoad', 'validateShard'];
/** Reads the warehouse's batch table and starts a few executions. */
const RECOVERY_TIMEOUT = Duration.minutes(1);
/** Past the ETL execution timeout, before a batch still RUNNING counts as abandoned (clock skew, slow stop). */
const ABANDON_MARGIN = Duration.minutes(5);

export interface EtlWorkflowProps {
  readonly placement: WorkflowPlacement;
  /** `cdp-<environment>`: the state machine is `<prefix>-etl`. */
  readonly prefix: string;
  readonly settings: EtlSettings;
  readonly data: DataStack;
  readonly warehouse: WarehouseStack;
  /** The `SHARD_MAP` environment variable of the steps. */
  readonly shardMap: string;
  /** The warehouse schema migration: no function that reads the warehouse is deployed before it. */
  readonly warehouseSchema: IDependable;
  /** Where a failed execution is published. */
  readonly failureTopic: { readonly topicArn: string };
  readonly allowFailurePublish: (machine: WorkflowStateMachine) => void;
  readonly scheduleGroup: scheduler.IScheduleGroup;
}

/**
 * The ETL of failure scenario 8 (docs/workflows.md): a state machine (`step-functions/etl.asl.json`) started
 * every `workflows.etl.intervalMinutes`, loading every shard's changes into the warehouse batch by batch and
 * publishing a failure; a recovery function on its own schedule publishes `WarehouseStalenessSeconds` and
 * `FailedBatches` and re-runs failed batches; alarms on failed and timed-out executions, staleness and
 * failed batches.
 */
export class EtlWorkflow extends Construct {
  public readonly steps: WorkflowSteps<EtlStep>;
  public readonly machine: WorkflowStateMachine;
  public readonly recovery: PlatformFunction;
  public readonly schedule: scheduler.Schedule;
  public readonly recoverySchedule: scheduler.Schedule;
  public readonly alarms: readonly cloudwatch.Alarm[];

  public constructor(scope: Construct, id: string, props: EtlWorkflowProps) {
    super(scope, id);
    const { placement, settings, warehouse, data } = props;
    const { logRetentionDays, logRemovalPolicy } = placement;
    const warehouseCluster = warehouse.warehouse;
    const warehouseEnvironment = {
      [ENV.warehouseClusterArn]: warehouseCluster.clusterArn,
      [ENV.warehouseSecretArn]: warehouseCluster.secret.secretArn,
      [ENV.warehouseDatabase]: warehouseCluster.databaseName,
    };

    this.steps = new WorkflowSteps(this, 'EtlSteps', {
      ...placement,
      name: 'etl',
      description: 'ETL step, shards to the analytics warehouse',
      steps: ETL_STEP_SETTINGS,
      environment: {
        [ENV.shardMap]: props.shardMap,
        ...warehouseEnvironment,
        [ENV.etlSettleSeconds]: String(settings.settleSeconds),
        [ENV.powertoolsMetricsNamespace]: WORKFLOWS_METRICS_NAMESPACE,
      },
    });
    for (const [step, fn] of Object.entries<PlatformFunction>(this.steps.functions)) {
      warehouse.grantDataApiAccess(fn);
      if (ETL_SHARD_STEPS.includes(step as EtlStep)) data.grantShardAccess(fn);
      // Never load into a schema the step does not know.
      fn.function.node.addDependency(props.warehouseSchema);
    }
    this.machine = new WorkflowStateMachine(this, 'Etl', {
      stateMachineName: `${props.prefix}-etl`,
      definitionFile: 'etl.asl.json',
      substitutions: {
        ...this.steps.substitutions(ETL_STEPS),
        [FAILURE_TOPIC_SUBSTITUTION]: props.failureTopic.topicArn,
      },
      invokes: this.steps.all.map((step) => step.function),
      logRetentionDays,
      logRemovalPolicy,
    });
    props.allowFailurePublish(this.machine);

    this.recovery = new PlatformFunction(this, 'EtlRecovery', {
      ...placement,
      name: SERVICES.etlRecovery,
      description: 'Publishes the warehouse staleness and re-runs failed ETL batches',
      timeout: RECOVERY_TIMEOUT,
      environment: {
        ...warehouseEnvironment,
        [ENV.etlStateMachineArn]: this.machine.stateMachineArn,
        [ENV.etlMaxRetries]: String(settings.maxRetries),
        // An execution past its TimeoutSeconds is stopped before it can close its batch: the batch stays
        // RUNNING until this job marks it FAILED and re-runs it.
        [ENV.etlAbandonAfterSeconds]: String(this.machine.timeout.plus(ABANDON_MARGIN).toSeconds()),
        [ENV.powertoolsMetricsNamespace]: WORKFLOWS_METRICS_NAMESPACE,
      },
    });
    warehouse.grantDataApiAccess(this.recovery);
    this.machine.grantStartExecution(this.recovery);
    this.recovery.function.node.addDependency(props.warehouseSchema);
    requireTimeoutWithin(this.machine, settings.intervalMinutes, 'workflows.etl.intervalMinutes');

    this.schedule = this.machine.startEvery('Schedule', {
      interval: Duration.minutes(settings.intervalMinutes),
      group: props.scheduleGroup,
      // `{}` opens a new batch (docs/workflows.md).
      input: {},
      retryAttempts: START_RETRIES,
      description: `Starts the ETL into the warehouse every ${settings.intervalMinutes} minutes`,
    });
    const recoveryInterval = Duration.minutes(settings.recoveryIntervalMinutes);
    this.recoverySchedule = scheduleInvocation(this, 'EtlRecoverySchedule', this.recovery, {
      interval: recoveryInterval,
      description: `Runs ${this.recovery.node.id} every ${recoveryInterval.toMinutes()} minutes`,
      scheduleGroup: props.scheduleGroup,
    });

    this.alarms = this.createAlarms(settings, props.prefix);
  }

  private createAlarms(settings: EtlSettings, prefix: string): cloudwatch.Alarm[] {
    const recoveryPeriod = Duration.minutes(settings.recoveryIntervalMinutes);
    const recoveryMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: WORKFLOWS_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [DIMENSIONS.service]: SERVICES.etlRecovery },
        period: recoveryPeriod,
        statistic: cloudwatch.Stats.MAXIMUM,
      });
    const failedBatchRuns = settings.maxRetries + 1;

    return [
      executionAlarm(
        this,
        'EtlFailedAlarm',
        'ETL: an execution failed; its batch is FAILED and the recovery job re-runs it',
        this.machine.metricFailed({ period: EXECUTION_ALARM_PERIOD }),
        scenarioAlarmName(prefix, 9, 'executions-failed'),
      ),
      executionAlarm(
        this,
        'EtlTimedOutAlarm',
        `ETL: an execution ran longer than its ${this.machine.timeout.toSeconds()} s (TimeoutSeconds) and was stopped`,
        this.machine.metricTimedOut({ period: EXECUTION_ALARM_PERIOD }),
      ),
      new cloudwatch.Alarm(this, 'WarehouseStalenessAlarm', {
        alarmDescription:
          `ETL: the warehouse is more than ${settings.stalenessAlarmSeconds} s behind the shards, or ` +
          'the recovery job stopped reporting how far behind it is',
        metric: recoveryMetric(ETL_METRIC_NAMES.warehouseStalenessSeconds),
        threshold: settings.stalenessAlarmSeconds,
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
          `given up on any that failed ${settings.maxRetries} re-runs`,
        metric: recoveryMetric(ETL_METRIC_NAMES.failedBatches),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // A batch the recovery job re-runs successfully is no page; one failing through its retries is.
        evaluationPeriods: failedBatchRuns,
        datapointsToAlarm: failedBatchRuns,
        // Silence is the staleness alarm's to report.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
  }
}
