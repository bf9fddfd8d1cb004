import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { CustomMetricGroup, MonitoringFacade } from 'cdk-monitoring-constructs';
import type { PlatformDashboardProps } from '../PlatformDashboard.js';
import { type Scenario, sectionHeader } from './scenarios.js';

const FULL_WIDTH = 24;
/** Alarms the status widget shows side by side at full width. */
const ALARMS_PER_ROW = 4;

/** Adds the dashboard's headers, alarm panels and custom graphs to the facade, in the order called. */
export class SectionBuilder {
  public readonly facade: MonitoringFacade;
  public readonly props: PlatformDashboardProps;

  public constructor(facade: MonitoringFacade, props: PlatformDashboardProps) {
    this.facade = facade;
    this.props = props;
  }

  /** Opens a scenario's section: its header, then the state of the alarms that fire in it, if any. */
  public section(scenario: Scenario): void {
    this.facade.addLargeHeader(sectionHeader(scenario));
    const alarms = this.props.scenarioAlarms[scenario] ?? [];
    if (alarms.length > 0) this.alarmStatus(`Alarms of §${scenario}`, alarms);
  }

  /** One full-width panel with the state of `alarms`, the most recently changed first. */
  public alarmStatus(title: string, alarms: readonly cloudwatch.IAlarm[]): void {
    this.facade.addWidget(
      new cloudwatch.AlarmStatusWidget({
        title,
        alarms: [...alarms],
        width: FULL_WIDTH,
        height: 1 + Math.ceil(alarms.length / ALARMS_PER_ROW),
        sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
      }),
    );
  }

  /** A titled group of graphs of the facade's custom monitoring, one graph per metric group. */
  public custom(title: string, description: string, metricGroups: CustomMetricGroup[]): void {
    this.facade.monitorCustom({
      humanReadableName: title,
      alarmFriendlyName: title,
      description,
      metricGroups,
    });
  }
}
