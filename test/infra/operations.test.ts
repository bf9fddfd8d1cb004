import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { expectAlarmsNotifyEncryptedTopic, expectPlatformFunction } from '../support/infraAssertions.js';
import { synthesize } from '../support/synth.js';
import {
  actionsOf,
  only,
  type Resource,
  type Resources,
  referencedId,
  type Statement,
  statementsOf,
} from '../support/templateQueries.js';

const CHECKS = [
  { check: 'BrokerHealth', service: 'broker-health' },
  { check: 'CacheHealth', service: 'cache-health' },
] as const;

describe.each(ENVIRONMENT_NAMES)('Operations stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { operations, stage } = synthesize(name);
  const [groupId, group] = only(operations, 'AWS::Scheduler::ScheduleGroup');
  const alarmOf = (fragment: string): Record<string, unknown> =>
    only(operations, 'AWS::CloudWatch::Alarm', fragment)[1].Properties;
  const keys = operations.findResources('AWS::KMS::Key') as Resources;
  const functionOf = (check: string): [string, Resource] =>
    only(operations, 'AWS::Lambda::Function', `${check}Function`);
  const variablesOf = (check: string): Record<string, unknown> =>
    (functionOf(check)[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const cacheDimensions = [
    {
      Name: 'ReplicationGroupId',
      Value: { 'Fn::ImportValue': expect.stringMatching(/cdp-.*-data:.*Index/) },
    },
    { Name: 'service', Value: 'cache-health' },
  ];
  /** Unhealthy, or not reported at all, in each of 2 one-minute periods. */
  const unhealthyOrUncheckedForTwoMinutes = {
    Statistic: 'Minimum',
    Period: 60,
    Threshold: 1,
    ComparisonOperator: 'LessThanThreshold',
    EvaluationPeriods: 2,
    DatapointsToAlarm: 2,
    TreatMissingData: 'breaching',
  };

  it(`is a stateless stack named cdp-${name}-operations, without termination protection`, () => {
    expect(stage.operations.stackName).toBe(`cdp-${name}-operations`);
    expect(stage.operations.terminationProtection).toBe(false);
  });

  it.each(CHECKS)(
    'runs $check on nodejs22.x arm64 in the compute subnets, inside the schedule interval',
    ({ check, service }) => {
      const [, fn] = functionOf(check);

      expectPlatformFunction(fn, { Timeout: 30 });
      expect(variablesOf(check).POWERTOOLS_SERVICE_NAME).toBe(service);
    },
  );

  it('points the broker check at the cluster and the broker count of the configuration', () => {
    expect(variablesOf('BrokerHealth')).toMatchObject({
      CLUSTER_ARN: { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-streaming:.*Kafka.*Arn`) },
      EXPECTED_BROKERS: String(config.streaming.brokerCount),
    });
  });

  it('points the cache check at the replication group, looking back 15 minutes for failovers', () => {
    expect(variablesOf('CacheHealth')).toMatchObject({
      REPLICATION_GROUP_ID: { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-data:.*Index`) },
      EVENT_LOOKBACK_MINUTES: '15',
    });
  });

  it.each(CHECKS)(
    'invokes $check through its live alias every minute from EventBridge Scheduler, never retried',
    ({ check }) => {
      const [functionId] = functionOf(check);
      const [aliasId, alias] = only(operations, 'AWS::Lambda::Alias', check);
      const [, schedule] = only(operations, 'AWS::Scheduler::Schedule', `${check}Schedule`);

      expect(alias.Properties).toMatchObject({ Name: 'live', FunctionName: { Ref: functionId } });
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        GroupName: `cdp-${name}-health-checks`,
        Target: {
          Arn: { Ref: aliasId },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        },
      });
      operations.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId },
        Qualifier: Match.objectLike({ 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: aliasId }] }] }),
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    },
  );

  it.each(CHECKS)('lets the scheduler role of $check invoke its alias and nothing else', ({ check }) => {
    const [aliasId] = only(operations, 'AWS::Lambda::Alias', check);
    const [, schedule] = only(operations, 'AWS::Scheduler::Schedule', `${check}Schedule`);
    const roleId = referencedId((schedule.Properties.Target as { RoleArn: unknown }).RoleArn) ?? '';
    const [, role] = only(operations, 'AWS::IAM::Role', roleId);
    const trust = (role.Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement;
    const rolePolicies = Object.values(operations.findResources('AWS::IAM::Policy') as Resources).filter(
      (p) => JSON.stringify(p.Properties.Roles).includes(roleId),
    );

    expect(trust).toEqual([
      expect.objectContaining({
        Action: 'sts:AssumeRole',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: {
          StringEquals: {
            'aws:SourceAccount': config.account,
            'aws:SourceArn': { 'Fn::GetAtt': [groupId, 'Arn'] },
          },
        },
      }),
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(
      rolePolicies.flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement),
    ).toEqual([{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { Ref: aliasId } }]);
  });

  it('lets the broker check describe the cluster and list its nodes, on that cluster only', () => {
    const statements = statementsOf(operations, 'BrokerHealthFunction');
    const kafka = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kafka')));

    expect(kafka).toEqual([
      {
        Effect: 'Allow',
        Action: ['kafka:DescribeClusterV2', 'kafka:ListNodes'],
        Resource: { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-streaming:.*Kafka.*Arn`) },
      },
    ]);
    expect(
      statements
        .filter((s) => s.Resource === '*')
        .flatMap(actionsOf)
        .sort(),
    ).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(
      statements.flatMap(actionsOf).some((a) => /^(kafka-cluster|elasticache|rds|secretsmanager)/.test(a)),
    ).toBe(false);
  });

  it('lets the cache check describe its replication group, and read events (which have no resource type)', () => {
    const statements = statementsOf(operations, 'CacheHealthFunction');
    const describeGroups = statements.filter((s) =>
      actionsOf(s).includes('elasticache:DescribeReplicationGroups'),
    );

    expect(describeGroups).toHaveLength(1);
    expect(actionsOf(describeGroups[0] as Statement)).toEqual(['elasticache:DescribeReplicationGroups']);
    expect(JSON.stringify(describeGroups[0]?.Resource)).toMatch(
      new RegExp(
        `:elasticache:${config.region}:${config.account}:replicationgroup:".*cdp-${name}-data:.*Index`,
      ),
    );
    expect(
      statements
        .filter((s) => s.Resource === '*')
        .flatMap(actionsOf)
        .sort(),
    ).toEqual(['elasticache:DescribeEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(
      statements.flatMap(actionsOf).some((a) => /^(kafka|rds|secretsmanager|elasticache:Modify)/.test(a)),
    ).toBe(false);
  });

  it('alarms when the cluster is unhealthy, or unchecked, for 2 minutes', () => {
    expect(alarmOf('ClusterHealth')).toMatchObject({
      Namespace: 'CustomerDataPlatform',
      MetricName: 'ClusterHealthy',
      Dimensions: [
        { Name: 'ClusterName', Value: `cdp-${name}` },
        { Name: 'service', Value: 'broker-health' },
      ],
      ...unhealthyOrUncheckedForTwoMinutes,
    });
  });

  it('alarms when the cache is unhealthy, or unchecked, for 2 minutes', () => {
    expect(alarmOf('CacheHealthAlarm')).toMatchObject({
      Namespace: 'CustomerDataPlatform',
      MetricName: 'CacheHealthy',
      Dimensions: cacheDimensions,
      ...unhealthyOrUncheckedForTwoMinutes,
    });
  });

  it('notifies of any recent cache failover', () => {
    expect(alarmOf('CacheFailover')).toMatchObject({
      Namespace: 'CustomerDataPlatform',
      MetricName: 'CacheFailoversRecent',
      Dimensions: cacheDimensions,
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('notifies an encrypted, TLS-only SNS topic from every alarm, on alarm and on recovery', () => {
    expectAlarmsNotifyEncryptedTopic(operations, {
      alarmCount: 3,
      statements: [
        Match.objectLike({
          Effect: 'Allow',
          Action: 'sns:Publish',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': config.account } }),
        }),
      ],
    });
  });

  it("puts both schedules in the environment's health-check group, and keeps every key rotating", () => {
    expect(group.Properties.Name).toBe(`cdp-${name}-health-checks`);
    operations.resourceCountIs('AWS::Scheduler::Schedule', 2);
    for (const key of Object.values(keys)) expect(key.Properties.EnableKeyRotation).toBe(true);
  });
});
