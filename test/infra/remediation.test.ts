import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { expectPlatformFunction } from '../support/infraAssertions.js';
import { synthesize } from '../support/synth.js';
import { actionsOf, only, type Resources, statementsOf } from '../support/templateQueries.js';

describe.each(ENVIRONMENT_NAMES)('Remediation stack (%s): the lag scaler and the event redrive', (name) => {
  const config = loadEnvironmentConfig(name);
  const { remediation: scaling, stage } = synthesize(name);
  const { consumer } = config;
  const [, fn] = only(scaling, 'AWS::Lambda::Function', 'LagScalerFunction');
  const alarms = scaling.findResources('AWS::CloudWatch::Alarm') as Resources;
  const alarmNamed = (suffix: string) =>
    Object.values(alarms).find((a) => a.Properties.AlarmName === `scaler-cdp-${name}-consumer-lag-${suffix}`);

  it(`is a stateless stack named cdp-${name}-remediation`, () => {
    expect(stage.remediation.stackName).toBe(`cdp-${name}-remediation`);
    expect(stage.remediation.terminationProtection).toBe(false);
  });

  it('runs the scaler on nodejs22.x arm64 in the compute subnets, with the configured policy', () => {
    expectPlatformFunction(fn, { Timeout: 30 });
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      MAPPING_UUID: {
        'Fn::ImportValue': expect.stringMatching(/cdp-.*-consumer:.*ConsumerLive.*KafkaEventSource/),
      },
      HIGH_LAG_ALARMS: `scaler-cdp-${name}-consumer-lag-high,scaler-cdp-${name}-consumer-group-lag-high`,
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
    const groupLag = Object.values(alarms).find(
      (a) => a.Properties.AlarmName === `scaler-cdp-${name}-consumer-group-lag-high`,
    );
    expect(groupLag?.Properties).toMatchObject({
      Namespace: 'AWS/Kafka',
      MetricName: 'MaxOffsetLag',
      Dimensions: [
        { Name: 'Cluster Name', Value: `cdp-${name}` },
        { Name: 'Consumer Group', Value: consumer.consumerGroup },
        { Name: 'Topic', Value: consumer.topic },
      ],
      Threshold: consumer.scaling.highLag,
      EvaluationPeriods: 2,
    });
    // Signals, not failures: they notify nobody and roll nothing back.
    expect(Object.keys(alarms)).toHaveLength(3);
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
          { 'Fn::GetAtt': [Match.stringLikeRegexp('GroupLagAlarm'), 'Arn'] },
          { 'Fn::GetAtt': [Match.stringLikeRegexp('LowLagAlarm'), 'Arn'] },
        ],
      },
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
    scaling.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(1 minute)' });
  });
});

describe.each(ENVIRONMENT_NAMES)('Remediation stack (%s): the event redrive', (name) => {
  const config = loadEnvironmentConfig(name);
  const { remediation } = synthesize(name);
  const [, fn] = only(remediation, 'AWS::Lambda::Function', 'EventRedriveFunction');
  const statements = statementsOf(remediation, 'EventRedriveFunction').filter(
    (s) => !actionsOf(s).some((a) => a.startsWith('xray:')),
  );
  const allActions = statements.flatMap(actionsOf).sort();

  it("reads the consumer's on-failure queue and writes the retry topic, from the configuration", () => {
    expectPlatformFunction(fn, { MemorySize: 512, Timeout: 300 });
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      FAILURE_QUEUE_URL: { 'Fn::ImportValue': expect.stringMatching(/cdp-.*-consumer:.*FailureQueue/) },
      CLUSTER_ARN: { 'Fn::ImportValue': expect.stringMatching(/cdp-.*-streaming/) },
      TOPIC: config.consumer.topic,
      RETRY_TOPIC: config.consumer.retryTopic,
    });
  });

  it('may receive and delete the queue messages, read both topics with its own groups and write the retry topic only', () => {
    expect(allActions).toEqual(
      expect.arrayContaining([
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'kafka-cluster:Connect',
        'kafka-cluster:ReadData',
        'kafka-cluster:WriteData',
        'kafka-cluster:DescribeGroup',
        'kafka-cluster:AlterGroup',
      ]),
    );
    expect(allActions.some((a) => a.endsWith('*') && !a.startsWith('kms:'))).toBe(false);
    const writes = statements.filter((s) => actionsOf(s).includes('kafka-cluster:WriteData'));
    expect(JSON.stringify(writes.map((s) => s.Resource))).toContain(config.consumer.retryTopic);
    expect(JSON.stringify(writes.map((s) => s.Resource))).not.toContain(`/${config.consumer.topic}"`);
  });
});

const PROBED = [
  { stack: 'consumer', hook: 'consumer-probe', version: /ConsumerFunctionCurrentVersion/ },
  { stack: 'ingest', hook: 'ingest-probe', version: /IngestFunctionCurrentVersion/ },
  { stack: 'query', hook: 'query-probe', version: /QueryFunctionCurrentVersion/ },
] as const;

describe.each(ENVIRONMENT_NAMES)('pre-traffic probes (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const synthesized = synthesize(name);

  describe.each(PROBED)('of the $stack function', ({ stack, hook: hookName, version }) => {
    const template = synthesized[stack];
    const [hookId, hook] = only(template, 'AWS::Lambda::Function', 'PreTrafficProbeHook');
    const variables = (hook.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

    it('is a CodeDeploy hook the managed role may invoke, probing the version being deployed', () => {
      expect(hook.Properties.FunctionName).toBe(`CodeDeployHook_cdp-${name}-${hookName}`);
      expectPlatformFunction(hook, { Timeout: 120 });
      expect(variables).toMatchObject({ TARGET_VERSION_ARN: { Ref: expect.stringMatching(version) } });
      if (stack === 'consumer')
        expect(variables).toMatchObject({ TOPIC: config.consumer.topic, SHARD_MAP: expect.anything() });
      else expect(variables).toMatchObject({ PROBED_API: stack });
    });

    it('runs before traffic shifts to a new version', () => {
      template.hasResource('AWS::Lambda::Alias', {
        UpdatePolicy: { CodeDeployLambdaAliasUpdate: { BeforeAllowTrafficHook: { Ref: hookId } } },
      });
    });

    it('may invoke the new version and report on its own deployment group, nothing else of either service', () => {
      const statements = statementsOf(template, 'PreTrafficProbeHook');
      const invoke = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
      const report = statements.filter((s) =>
        actionsOf(s).includes('codedeploy:PutLifecycleEventHookExecutionStatus'),
      );
      expect(JSON.stringify(invoke.map((s) => s.Resource))).toMatch(version);
      expect(JSON.stringify(report.map((s) => s.Resource))).toMatch(/deploymentgroup/);
      expect(
        statements
          .flatMap(actionsOf)
          .filter((a) => a.startsWith('lambda:') || a.startsWith('codedeploy:'))
          .sort(),
      ).toEqual(['codedeploy:PutLifecycleEventHookExecutionStatus', 'lambda:InvokeFunction']);
    });
  });
});
