import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct, IConstruct } from 'constructs';
import { PlatformDashboard } from '../constructs/PlatformDashboard.js';
import type { ApiStack } from './ApiStack.js';
import { type ConsumerStack, retryConsumerGroup } from './ConsumerStack.js';
import type { DataStack } from './DataStack.js';
import type { IngestStack } from './IngestStack.js';
import type { OperationsStack } from './OperationsStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { QueryStack } from './QueryStack.js';
import type { RemediationStack } from './RemediationStack.js';
import type { StreamingStack } from './StreamingStack.js';
import type { WorkflowsStack } from './WorkflowsStack.js';

export interface DashboardStackProps extends PlatformStackProps {
  readonly streaming: StreamingStack;
  readonly data: DataStack;
  readonly consumer: ConsumerStack;
  readonly remediation: RemediationStack;
  readonly api: ApiStack;
  readonly query: QueryStack;
  readonly ingest: IngestStack;
  readonly operations: OperationsStack;
  readonly workflows: WorkflowsStack;
  /** Where to look for the alarms of the overview: the environment's stage. */
  readonly alarmScope: IConstruct;
}

/** Every CloudWatch alarm below `scope`, in construct order. */
export const alarmsBelow = (scope: IConstruct): cloudwatch.Alarm[] =>
  scope.node.findAll().filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm);

/**
 * The environment's operations dashboard (`cdp-<env>`), in a stack of its own: it only reads names from
 * the other stacks, so it deploys last and changes without touching them.
 */
export class DashboardStack extends PlatformStack {
  public readonly dashboard: PlatformDashboard;

  public constructor(scope: Construct, id: string, props: DashboardStackProps) {
    super(scope, id, props);
    const { config } = this;
    const { consumer, ingest, query, operations, remediation, workflows, data } = props;
    const workflowAlarm = (alarmId: string): cloudwatch.IAlarm[] =>
      workflows.alarms.filter((alarm) => alarm.node.id === alarmId);
    const guarded = [consumer.consumer, ingest.ingest, query.query];
    const environmentAlarms = alarmsBelow(props.alarmScope);
    /** `listed` and the alarms named after scenario `n` (`cdp-<env>-s<n>-...`) not listed, once each. */
    const withNamed = (n: number, listed: readonly cloudwatch.IAlarm[]): cloudwatch.IAlarm[] => {
      const prefix = `cdp-${config.name}-s${n}-`;
      const named = environmentAlarms.filter((alarm) => {
        const alarmName = (alarm.node.defaultChild as cloudwatch.CfnAlarm).alarmName;
        return typeof alarmName === 'string' && alarmName.startsWith(prefix);
      });
      return [...new Set([...listed, ...named])];
    };

    this.dashboard = new PlatformDashboard(this, 'Dashboard', {
      dashboardName: `cdp-${config.name}`,
      kafka: {
        clusterName: props.streaming.cluster.clusterName,
        brokerCount: config.streaming.brokerCount,
        topic: config.consumer.topic,
        consumerGroup: config.consumer.consumerGroup,
        retryTopic: config.consumer.retryTopic,
        retryConsumerGroup: retryConsumerGroup(config.consumer.consumerGroup),
      },
      api: props.api.api.httpApi,
      ingest: ingest.ingest.function,
      spillover: ingest.spillover.queue,
      consumer: consumer.consumer.function,
      failureQueue: consumer.failureQueue,
      query: query.query.function,
      probes: [consumer.preTrafficProbe, ingest.preTrafficProbe, query.preTrafficProbe].map(
        (probe) => probe.function.function,
      ),
      shards: data.shards.map((shard) => ({
        shardId: shard.shardId,
        clusterIdentifier: shard.cluster.clusterIdentifier,
      })),
      replicationGroupId: data.cache.replicationGroupId,
      // ElastiCache names the clusters of a replication group (cluster mode disabled) <group>-001, -002, ...
      cacheClusterIds: Array.from(
        { length: 1 + config.data.cache.replicasPerNodeGroup },
        (_, i) => `${data.cache.replicationGroupId}-${String(i + 1).padStart(3, '0')}`,
      ),
      etl: workflows.etl.stateMachine,
      reconciliation: workflows.reconciliation.stateMachine,
      alarms: environmentAlarms,
      scenarioAlarms: {
        1: withNamed(1, [
          operations.clusterHealthAlarm,
          ingest.brokerAlarms.publishErrorsAlarm,
          ingest.brokerAlarms.breakerOpenAlarm,
          ingest.brokerAlarms.spillDepthAlarm,
          ingest.brokerAlarms.spillAgeAlarm,
          ingest.brokerAlarms.drainStalledAlarm,
        ]),
        2: withNamed(2, [consumer.consumer.errorsAlarm, consumer.offsetLagAlarm, consumer.failureQueueAlarm]),
        3: withNamed(3, []),
        4: withNamed(4, [
          operations.cacheHealthAlarm,
          operations.cacheFailoverAlarm,
          query.fallbackModeAlarm,
        ]),
        5: withNamed(
          5,
          guarded.map((fn) => fn.durationAlarm),
        ),
        6: withNamed(6, [
          remediation.lagScaler.highLagAlarm,
          remediation.lagScaler.groupLagAlarm,
          remediation.lagScaler.lowLagAlarm,
          consumer.offsetLagAlarm,
        ]),
        7: withNamed(7, [
          ...guarded.flatMap((fn) => [fn.errorsAlarm, fn.durationAlarm]),
          consumer.failureQueueAlarm,
        ]),
        8: withNamed(8, workflowAlarm('ReconciliationFailedAlarm')),
        9: withNamed(9, [
          ...workflowAlarm('EtlFailedAlarm'),
          ...workflowAlarm('EtlTimedOutAlarm'),
          ...workflowAlarm('WarehouseStalenessAlarm'),
          ...workflowAlarm('FailedBatchesAlarm'),
        ]),
      },
    });
  }
}
