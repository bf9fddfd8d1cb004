import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { DefaultDashboardFactory, MonitoringFacade } from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { badDeployment, etlFails } from './dashboard/deliverySections.js';
import { redisFails, serviceSlow, shardFails } from './dashboard/dependencySections.js';
import {
  consumerCrashes,
  kafkaUnavailable,
  networkPartition,
  volumeSpike,
} from './dashboard/pipelineSections.js';
import { SectionBuilder } from './dashboard/SectionBuilder.js';
import { ALARM_OVERVIEW_TITLE, type Scenario } from './dashboard/scenarios.js';

export {
  ALARM_OVERVIEW_TITLE,
  DASHBOARD_SECTIONS,
  type Scenario,
  sectionHeader,
} from './dashboard/scenarios.js';

export interface PlatformDashboardProps {
  /** `cdp-<env>`: the dashboard's name. */
  readonly dashboardName: string;
  readonly kafka: {
    readonly clusterName: string;
    readonly brokerCount: number;
    readonly topic: string;
    readonly consumerGroup: string;
    readonly retryTopic: string;
    readonly retryConsumerGroup: string;
  };
  readonly api: apigwv2.IHttpApi;
  readonly ingest: lambda.IFunction;
  readonly spillover: sqs.IQueue;
  readonly consumer: lambda.IFunction;
  readonly failureQueue: sqs.IQueue;
  readonly query: lambda.IFunction;
  /** The BeforeAllowTraffic hooks of the guarded functions. */
  readonly probes: readonly lambda.IFunction[];
  readonly shards: readonly { readonly shardId: string; readonly clusterIdentifier: string }[];
  /** The member clusters of the Redis replication group (`<group>-001`, ...). */
  readonly cacheClusterIds: readonly string[];
  readonly replicationGroupId: string;
  readonly etl: sfn.IStateMachine;
  readonly reconciliation: sfn.IStateMachine;
  /** Every alarm of the environment, for the overview. */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** The alarms that fire in each scenario, shown at the top of its section. */
  readonly scenarioAlarms: Readonly<Partial<Record<Scenario, readonly cloudwatch.IAlarm[]>>>;
}

/**
 * The environment's one CloudWatch dashboard, built with cdk-monitoring-constructs' `MonitoringFacade`:
 * an overview of every alarm, then one section per failure scenario with the signals to see it happen
 * and recover. Every graph reads a metric a handler publishes (namespace `CustomerDataPlatform`,
 * dimension `service` plus what the code adds) or an AWS service metric with its documented
 * dimensions. Adds no alarm: the stacks own them.
 */
export class PlatformDashboard extends Construct {
  public readonly facade: MonitoringFacade;
  public readonly dashboard: cloudwatch.Dashboard;

  public constructor(scope: Construct, id: string, props: PlatformDashboardProps) {
    super(scope, id);
    const factory = new DefaultDashboardFactory(this, 'Dashboards', {
      dashboardNamePrefix: props.dashboardName,
      createDashboard: true,
      createSummaryDashboard: false,
      createAlarmDashboard: false,
    });
    this.facade = new MonitoringFacade(this, 'Monitoring', { dashboardFactory: factory });
    const { dashboard } = factory;
    if (dashboard === undefined) throw new Error(`${props.dashboardName}: no dashboard was created`);
    this.dashboard = dashboard;
    // CloudFormation's AWS::CloudWatch::Dashboard takes Tags (aws-cdk-lib's L1, generated from the resource
    // schema, has them; the stage tags every resource), but the schema bundled with cfn-lint 1.51 predates
    // them and reports E3002 for this one property. Nothing else of this resource is written by hand.
    (dashboard.node.defaultChild as cloudwatch.CfnDashboard).addMetadata('cfn-lint', {
      config: { ignore_checks: ['E3002'] },
    });

    const sections = new SectionBuilder(this.facade, props);
    this.facade.addLargeHeader(ALARM_OVERVIEW_TITLE);
    sections.alarmStatus(`Every alarm of ${props.dashboardName}`, props.alarms);
    for (const addSection of [
      kafkaUnavailable,
      consumerCrashes,
      shardFails,
      redisFails,
      serviceSlow,
      volumeSpike,
      badDeployment,
      networkPartition,
      etlFails,
    ]) {
      addSection(sections);
    }
  }
}
