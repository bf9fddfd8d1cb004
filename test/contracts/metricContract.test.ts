import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { crosses, dashboardMetricsOf, parseEmf, statisticOf, verdictFor } from '../support/metricContract.js';

const emf = (name: string, value: number | number[], dimensions: Record<string, string>) =>
  JSON.stringify({
    _aws: {
      Timestamp: 0,
      CloudWatchMetrics: [
        {
          Namespace: 'CustomerDataPlatform',
          Dimensions: [Object.keys(dimensions)],
          Metrics: [{ Name: name }],
        },
      ],
    },
    ...dimensions,
    [name]: value,
  });

describe('metrics contract checker', () => {
  it('reads the widgets metrics of a dashboard body joined around deploy-time values', () => {
    // Prepare
    const stack = new Stack(new App(), 'Dashboards');
    const queue = new cloudwatch.Metric({
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensionsMap: { QueueName: new cloudwatch.Metric({ namespace: 'x', metricName: 'y' }).namespace },
    });
    const dashboard = new cloudwatch.Dashboard(stack, 'Dashboard');
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        left: [
          queue,
          new cloudwatch.Metric({
            namespace: 'CustomerDataPlatform',
            metricName: 'PublishErrors',
            dimensionsMap: { service: 'ingest' },
          }),
        ],
      }),
      new cloudwatch.SingleValueWidget({
        metrics: [
          new cloudwatch.Metric({
            namespace: 'AWS/Lambda',
            metricName: 'Errors',
            dimensionsMap: { FunctionName: stack.stackName },
          }),
        ],
      }),
    );

    // Act
    const { widgets, metrics } = dashboardMetricsOf({ dashboards: Template.fromStack(stack) });

    // Assess
    expect(widgets).toBe(2);
    expect(metrics.map((m) => `${m.namespace} ${m.name} ${Object.keys(m.dimensions).join(',')}`)).toEqual([
      'AWS/SQS ApproximateNumberOfMessagesVisible QueueName',
      'CustomerDataPlatform PublishErrors service',
      'AWS/Lambda Errors FunctionName',
    ]);
  });

  it('refuses a platform metric emitted with another dimension set or below the threshold', () => {
    // Prepare
    const runs = [
      {
        scenario: 'outage',
        emitted: parseEmf(
          [
            emf('PublishErrors', [1, 1], { service: 'ingest', extra: 'x' }),
            emf('BreakerOpen', 0, { service: 'ingest' }),
          ].join('\n'),
        ),
      },
    ];
    const alarm = (name: string) => ({
      stack: 's',
      logicalId: name,
      alarmName: undefined,
      metrics: [{ namespace: 'CustomerDataPlatform', name, dimensions: { service: 'ingest' } }],
      statistic: 'Sum',
      threshold: 0,
      comparison: 'GreaterThanThreshold',
    });

    // Act
    const wrongDimensions = verdictFor(
      alarm('PublishErrors').metrics[0] as never,
      runs,
      [],
      alarm('PublishErrors'),
    );
    const belowThreshold = verdictFor(
      alarm('BreakerOpen').metrics[0] as never,
      runs,
      [],
      alarm('BreakerOpen'),
    );

    // Assess
    expect(wrongDimensions).toMatchObject({ matched: false });
    expect(wrongDimensions.evidence).toContain('emitted with dimensions');
    expect(belowThreshold).toMatchObject({ matched: false });
    expect(statisticOf('Sum', [1, 2])).toBe(3);
    expect(statisticOf('p99', [1, 2, 100])).toBe(100);
    expect(crosses('LessThanThreshold', 0, 1)).toBe(true);
  });

  it('refuses an AWS metric missing from the reviewed table', () => {
    const verdict = verdictFor(
      { namespace: 'AWS/Lambda', name: 'Throttles', dimensions: { FunctionName: undefined } },
      [],
      [],
    );
    expect(verdict).toEqual({ matched: false, evidence: 'not in the reviewed table of AWS metrics' });
  });
});
