import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { type DeploymentStrategy, ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { DEPLOYMENT_CONFIGS, GuardedFunction } from '../../lib/constructs/GuardedFunction.js';
import { retryConsumerGroup } from '../../lib/stacks/ConsumerStack.js';
import {
  expectAlarmsNotifyEncryptedTopic,
  expectDataApiOnEachShard,
  expectGuardedDeployment,
  expectNoServiceWideAction,
  expectOnlyXRayOnAnyResource,
  expectPlatformFunction,
  REDIS_VARIABLES,
} from '../support/infraAssertions.js';
import { synthesize } from '../support/synth.js';
import {
  actionsOf,
  DEPLOYMENT_CONFIG_NAMES,
  only,
  parseJoinedJson,
  type Resources,
  referencedId,
  type Statement,
  statementsOf,
} from '../support/templateQueries.js';

const MIGRATIONS_SOURCE = fileURLToPath(
  new URL('../../lambdas/shared/migrations/migrations.ts', import.meta.url),
);

describe.each(ENVIRONMENT_NAMES)('Consumer stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { consumer: settings, alarms } = config;
  const { consumer, stage } = synthesize(name);
  const [queueId, queue] = only(consumer, 'AWS::SQS::Queue');
  const [functionId, fn] = only(consumer, 'AWS::Lambda::Function', 'ConsumerFunction');
  const [aliasId, alias] = only(consumer, 'AWS::Lambda::Alias');
  const [customResourceId, customResource] = only(consumer, 'Custom::ShardSchemaMigrations');
  const alarmsById = consumer.findResources('AWS::CloudWatch::Alarm') as Resources;
  const alarmId = (fragment: string): string => only(consumer, 'AWS::CloudWatch::Alarm', fragment)[0];
  const keys = consumer.findResources('AWS::KMS::Key') as Resources;
  const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  it(`is a stateless stack named cdp-${name}-consumer, without termination protection`, () => {
    expect(stage.consumer.stackName).toBe(`cdp-${name}-consumer`);
    expect(stage.consumer.terminationProtection).toBe(false);
  });

  it.each([
    ['events topic', settings.topic, settings.consumerGroup],
    ['retry topic', settings.retryTopic, retryConsumerGroup(settings.consumerGroup)],
  ])(
    'reads the %s through a provisioned-mode MSK event source mapping on the live alias',
    (_what, topic, group) => {
      consumer.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
      consumer.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::ImportValue': Match.stringLikeRegexp(`cdp-${name}-streaming:.*Kafka.*Arn`) },
        Topics: [topic],
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: group },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: settings.batchSize,
        MaximumBatchingWindowInSeconds: settings.maxBatchingWindowSeconds,
        ProvisionedPollerConfig: {
          MinimumPollers: settings.minimumPollers,
          MaximumPollers: settings.maximumPollers,
        },
        FunctionName: {
          'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: aliasId }] }] }, ':live']],
        },
      });
      expect(alias.Properties).toMatchObject({ Name: 'live', FunctionName: { Ref: functionId } });
    },
  );

  it('retries, bisects and reports partial batches on both mappings, then sends what still fails to the on-failure queue', () => {
    const mappings = Object.values(consumer.findResources('AWS::Lambda::EventSourceMapping') as Resources);
    expect(mappings).toHaveLength(2);
    for (const mapping of mappings) {
      expect(mapping.Properties).toMatchObject({
        MaximumRetryAttempts: settings.retryAttempts,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
      });
    }
    consumer.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumRetryAttempts: settings.retryAttempts,
      MaximumRecordAgeInSeconds: settings.maxRecordAgeSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
  });

  it('keeps failed records 14 days in a queue encrypted with a rotating customer-managed key, TLS only', () => {
    const keyId = referencedId(queue.Properties.KmsMasterKeyId);

    expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(queue.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(keys[keyId ?? '']?.Properties.EnableKeyRotation).toBe(true);
    consumer.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it(`deploys the alias with ${DEPLOYMENT_CONFIG_NAMES[name]} and rolls back on failure, stop or alarm`, () => {
    const { groupId, group, guardedAlarmIds } = expectGuardedDeployment(consumer, name);

    expect(group.Properties).toMatchObject({ AlarmConfiguration: { Enabled: true } });
    // The alarms named after failure scenarios notify operators; only the four below guard deployments.
    const scenarioAlarmIds = Object.keys(alarmsById).filter((id) =>
      /^(ShardWriteFailures|IdempotencyBypassed|ShardBreakers|VolumeSpike|RetryTopicLag)Alarm/.test(id),
    );
    expect(scenarioAlarmIds).toHaveLength(5);
    expect(guardedAlarmIds.sort()).toEqual(
      Object.keys(alarmsById)
        .filter((id) => !scenarioAlarmIds.includes(id))
        .sort(),
    );
    expect(guardedAlarmIds).toHaveLength(4);
    consumer.hasResource('AWS::Lambda::Alias', {
      UpdatePolicy: { CodeDeployLambdaAliasUpdate: { DeploymentGroupName: { Ref: groupId } } },
    });
  });

  it('alarms on errors and p99 duration of the live alias at the configured thresholds', () => {
    const aliasDimensions = [
      { Name: 'FunctionName', Value: { Ref: functionId } },
      { Name: 'Resource', Value: { 'Fn::Join': ['', [{ Ref: functionId }, ':live']] } },
    ];

    expect(alarmsById[alarmId('Errors')]?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Period: 60,
      Dimensions: aliasDimensions,
      Threshold: alarms.functionErrors,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarmsById[alarmId('Duration')]?.Properties).toMatchObject({
      MetricName: 'Duration',
      ExtendedStatistic: 'p99',
      Dimensions: aliasDimensions,
      Threshold: alarms.durationP99Millis,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms on the depth of the on-failure queue and on the consumer offset lag at the configured thresholds', () => {
    expect(alarmsById[alarmId('FailureQueueDepth')]?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: alarms.dlqDepth,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarmsById[alarmId('OffsetLag')]?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'OffsetLag',
      Statistic: 'Maximum',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
      Threshold: alarms.consumerOffsetLag,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('notifies an encrypted, TLS-only SNS topic from every alarm, on alarm and on recovery', () => {
    expectAlarmsNotifyEncryptedTopic(consumer, {
      statements: [
        Match.objectLike({
          Effect: 'Allow',
          Action: 'sns:Publish',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
        }),
      ],
    });
  });

  it('runs the consumer on nodejs22.x arm64 in the compute subnets, sized from the configuration', () => {
    expectPlatformFunction(fn, { MemorySize: settings.memoryMiB, Timeout: settings.timeoutSeconds });
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(settings.reservedConcurrency);
  });

  it('hands the consumer every shard, the Redis endpoint and secret, and the on-failure queue', () => {
    const shardMap = parseJoinedJson(variables.SHARD_MAP) as {
      version: number;
      shards: Array<{ id: string; clusterArn: string; secretArn: string; database: string }>;
    };

    expect(shardMap.version).toBe(1);
    expect(shardMap.shards.map((s) => s.id)).toEqual(
      Array.from({ length: config.data.shardCount }, (_, i) => `shard-${i}`),
    );
    shardMap.shards.forEach((shard, i) => {
      expect(shard.clusterArn).toMatch(
        new RegExp(`:rds:${config.region}:${config.account}:cluster:<import:.*Shard${i}Cluster`),
      );
      expect(shard.secretArn).toMatch(new RegExp(`<import:.*Shard${i}ClusterSecret`));
      expect(shard.database).toBe('customers');
    });
    expect(variables).toMatchObject({
      ...REDIS_VARIABLES,
      DLQ_QUEUE_URL: { Ref: queueId },
      CLUSTER_ARN: {
        'Fn::ImportValue': expect.stringMatching(new RegExp(`cdp-${name}-streaming:.*Kafka.*Arn`)),
      },
      RETRY_TOPIC: settings.retryTopic,
      POWERTOOLS_METRICS_NAMESPACE: 'CustomerDataPlatform',
      POWERTOOLS_SERVICE_NAME: 'consumer',
    });
  });

  it('grants the consumer least privilege: no wildcard data access, Kafka scoped to its topics and groups', () => {
    const statements = statementsOf(consumer, 'ConsumerFunction');
    const kafka = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kafka-cluster:')));

    expectOnlyXRayOnAnyResource(statements);
    expectNoServiceWideAction(statements);
    expectDataApiOnEachShard(statements, config.data.shardCount);
    const kafkaResources = kafka.map((s) => JSON.stringify(s.Resource));
    const onTopic = (topic: string) =>
      kafka.filter(
        (s) =>
          JSON.stringify(s.Resource).includes(`:topic/`) && JSON.stringify(s.Resource).includes(`/${topic}"`),
      );
    expect(kafkaResources.filter((r) => r.includes(':topic/'))).toHaveLength(
      onTopic(settings.topic).length + onTopic(settings.retryTopic).length,
    );
    expect(kafkaResources.filter((r) => r.includes(':group/')).sort()).toEqual([
      expect.stringContaining(`/${settings.consumerGroup}"`),
      expect.stringContaining(`/${retryConsumerGroup(settings.consumerGroup)}"`),
    ]);
    expect(kafkaResources.every((r) => !r.includes('*'))).toBe(true);
    expect(kafka.flatMap(actionsOf)).toEqual(
      expect.arrayContaining(['kafka-cluster:Connect', 'kafka-cluster:ReadData', 'kafka-cluster:AlterGroup']),
    );
    // It writes only to the retry topic (parked records), never to the events topic it reads.
    expect(onTopic(settings.topic).flatMap(actionsOf)).not.toContain('kafka-cluster:WriteData');
    expect(onTopic(settings.retryTopic).flatMap(actionsOf)).toContain('kafka-cluster:WriteData');
  });

  it('lets the consumer send to the on-failure queue with its key, and to no other queue', () => {
    const statements = statementsOf(consumer, 'ConsumerFunction');
    const sqs = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')));
    const queueKey = statements.filter(
      (s) => referencedId(s.Resource) === referencedId(queue.Properties.KmsMasterKeyId),
    );

    expect(sqs.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [queueId, 'Arn'] }]);
    expect(actionsOf(sqs[0] as Statement)).toContain('sqs:SendMessage');
    expect(queueKey.flatMap(actionsOf)).toEqual(
      expect.arrayContaining(['kms:GenerateDataKey*', 'kms:Decrypt']),
    );
  });

  it('migrates the shard schema in a custom resource keyed on the migrations checksum, before the consumer', () => {
    const checksum = createHash('sha256').update(readFileSync(MIGRATIONS_SOURCE, 'utf8')).digest('hex');

    expect(customResource.Properties.MigrationsChecksum).toBe(checksum);
    expect(parseJoinedJson(customResource.Properties.ShardMap)).toEqual(parseJoinedJson(variables.SHARD_MAP));
    expect(fn.DependsOn).toContain(customResourceId);
    const [providerId, provider] = only(consumer, 'AWS::Lambda::Function', 'ProviderframeworkonEvent');
    expect(customResource.Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [providerId, 'Arn'] });
    // The framework answers CloudFormation's pre-signed S3 URL, which the isolated VPC cannot reach.
    expect(provider.Properties.VpcConfig).toBeUndefined();
  });

  it('runs the migration function in the VPC with SQL on every shard and nothing else', () => {
    const [, migrations] = only(consumer, 'AWS::Lambda::Function', 'ShardSchemaHandler');
    const statements = statementsOf(consumer, 'ShardSchemaHandler');

    expect(migrations.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: { POWERTOOLS_SERVICE_NAME: 'shard-migrations', SHARD_MAP: variables.SHARD_MAP },
      },
      VpcConfig: { SecurityGroupIds: [{ 'Fn::ImportValue': expect.stringMatching('ComputeSg') }] },
    });
    expect(statements.filter((s) => actionsOf(s).includes('rds-data:ExecuteStatement'))).toHaveLength(
      config.data.shardCount,
    );
    expect(statements.flatMap(actionsOf).some((a) => /^(kafka|sqs|elasticache)/.test(a))).toBe(false);
  });

  it('keeps every key of the stack rotating', () => {
    for (const key of Object.values(keys)) expect(key.Properties.EnableKeyRotation).toBe(true);
  });
});

describe('GuardedFunction', () => {
  const placement = () => {
    const app = new App();
    const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'compute', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const securityGroup = new ec2.SecurityGroup(stack, 'Sg', { vpc });
    return { stack, vpc, securityGroup };
  };

  it('maps every deployment strategy of the configuration to a CodeDeploy preset', () => {
    const strategies: DeploymentStrategy[] = [
      'allAtOnce',
      'canary10Percent5Minutes',
      'canary10Percent10Minutes',
      'canary10Percent15Minutes',
      'linear10PercentEvery1Minute',
      'linear10PercentEvery3Minutes',
      'linear10PercentEvery10Minutes',
    ];

    expect(Object.keys(DEPLOYMENT_CONFIGS).sort()).toEqual([...strategies].sort());
    expect(new Set(Object.values(DEPLOYMENT_CONFIGS).map((c) => c.deploymentConfigName)).size).toBe(
      strategies.length,
    );
  });

  it('notifies a given topic, owns none, and guards deployments with alarms added later', () => {
    // Prepare
    const { stack, vpc, securityGroup } = placement();
    const topic = new sns.Topic(stack, 'Ops');

    // Act
    const guarded = new GuardedFunction(stack, 'Guarded', {
      name: 'consumer',
      vpc,
      subnets: { subnetGroupName: 'compute' },
      securityGroups: [securityGroup],
      logRetentionDays: 7,
      deploymentStrategy: 'linear10PercentEvery3Minutes',
      thresholds: { functionErrors: 3, durationP99Millis: 1_000 },
      alarmTopic: topic,
    });
    const extra = new cloudwatch.Alarm(stack, 'Extra', {
      metric: guarded.alias.metricThrottles(),
      threshold: 1,
      evaluationPeriods: 1,
    });
    guarded.addAlarm(extra);
    const template = Template.fromStack(stack);

    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 1);
    expect(guarded.alarms).toHaveLength(3);
    expect(guarded.alarms).toContain(extra);
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaLinear10PercentEvery3Minutes',
      AlarmConfiguration: {
        Alarms: Match.arrayWith([
          { Name: { Ref: stack.getLogicalId(extra.node.defaultChild as cloudwatch.CfnAlarm) } },
        ]),
      },
    });
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) }],
    });
  });
});
