import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { expectPlatformFunction } from '../support/infraAssertions.js';
import { synthesize } from '../support/synth.js';
import { actionsOf, only, type Resources, statementsOf } from '../support/templateQueries.js';

describe.each(ENVIRONMENT_NAMES)('Scaling stack (%s): the consumer lag scaler', (name) => {
  const config = loadEnvironmentConfig(name);
  const { scaling, stage } = synthesize(name);
  const { consumer } = config;
  const [, fn] = only(scaling, 'AWS::Lambda::Function', 'LagScalerFunction');
  const alarms = scaling.findResources('AWS::CloudWatch::Alarm') as Resources;
  const alarmNamed = (suffix: string) =>
    Object.values(alarms).find((a) => a.Properties.AlarmName === `scaler-cdp-${name}-consumer-lag-${suffix}`);

  it(`is a stateless stack named cdp-${name}-scaling`, () => {
    expect(stage.scaling.stackName).toBe(`cdp-${name}-scaling`);
    expect(stage.scaling.terminationProtection).toBe(false);
  });

  it('runs the scaler on nodejs22.x arm64 in the compute subnets, with the configured policy', () => {
    expectPlatformFunction(fn, { Timeout: 30 });
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      MAPPING_UUID: {
        'Fn::ImportValue': expect.stringMatching(/cdp-.*-consumer:.*ConsumerLive.*KafkaEventSource/),
      },
      HIGH_LAG_ALARM: `scaler-cdp-${name}-consumer-lag-high`,
      LOW_LAG_ALARM: `scaler-cdp-${name}-consumer-lag-low`,
      SCALING_FLOOR: String(consumer.minimumPollers),
      SCALING_CEILING: String(consumer.scaling.ceiling),
      SCALING_STEP: String(consumer.scaling.step),
      SCALING_COOLDOWN_SECONDS: String(consumer.scaling.cooldownSeconds),
    });
  });

  it('scales out on a high lag of two minutes and in on a low lag held for the configured minutes', () => {
    const dimensions = [
      { Name: 'FunctionName', Value: { 'Fn::ImportValue': expect.stringMatching(/ConsumerFunction/) } },
    ];
    expect(alarmNamed('high')?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'OffsetLag',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Period: 60,
      Threshold: consumer.scaling.highLag,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
    expect(alarmNamed('low')?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'OffsetLag',
      Dimensions: dimensions,
      Threshold: consumer.scaling.lowLag,
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      EvaluationPeriods: consumer.scaling.lowLagMinutes,
      DatapointsToAlarm: consumer.scaling.lowLagMinutes,
      TreatMissingData: 'breaching',
    });
    // Signals, not failures: they notify nobody and roll nothing back.
    expect(Object.keys(alarms)).toHaveLength(2);
    for (const alarm of Object.values(alarms)) expect(alarm.Properties.AlarmActions).toBeUndefined();
  });

  it('may read its two alarms and read and update the one mapping, nothing else', () => {
    const statements = statementsOf(scaling, 'LagScalerFunction').filter(
      (s) => !actionsOf(s).some((a) => a.startsWith('xray:')),
    );
    expect(statements.map((s) => actionsOf(s).sort())).toEqual([
      ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
      ['cloudwatch:DescribeAlarms'],
    ]);
    expect(JSON.stringify(statements[0]?.Resource)).toMatch(/event-source-mapping:/);
    expect(JSON.stringify(statements[1]?.Resource)).toContain('HighLagAlarm');
    expect(JSON.stringify(statements[1]?.Resource)).toContain('LowLagAlarm');
  });

  it('runs when either lag alarm changes state, and every minute', () => {
    scaling.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        resources: [
          { 'Fn::GetAtt': [Match.stringLikeRegexp('HighLagAlarm'), 'Arn'] },
          { 'Fn::GetAtt': [Match.stringLikeRegexp('LowLagAlarm'), 'Arn'] },
        ],
      },
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
    scaling.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(1 minute)' });
  });
});
