import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import {
  aliasRoutesOf,
  expectAlarmsNotifyEncryptedTopic,
  expectApiInvokePermissions,
  expectGuardedDeployment,
  expectIamAuthorizedRoutes,
  expectLiveAliasRoutes,
  expectOnlyXRayOnAnyResource,
  expectPlatformFunction,
  REDIS_VARIABLES,
} from '../support/infraAssertions.js';
import { synthesize } from '../support/synth.js';
import {
  actionsOf,
  DEPLOYMENT_CONFIG_NAMES,
  importOfRef,
  joined,
  only,
  type Resource,
  type Resources,
  referencedId,
  type Statement,
  statementsOf,
} from '../support/templateQueries.js';

const withAction = (statements: Statement[], prefix: string): Statement[] =>
  statements.filter((s) => actionsOf(s).some((a) => a.startsWith(prefix)));

describe.each(ENVIRONMENT_NAMES)('Ingest stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { ingest, api, stage } = synthesize(name);
  const [functionId, fn] = only(ingest, 'AWS::Lambda::Function', 'IngestFunction');
  const [drainerId, drainer] = only(ingest, 'AWS::Lambda::Function', 'DrainerFunction');
  const [aliasId, alias] = only(ingest, 'AWS::Lambda::Alias', 'IngestLive');
  const [drainerAliasId, drainerAlias] = only(ingest, 'AWS::Lambda::Alias', 'DrainScheduleAlias');
  const [queueId, queue] = only(ingest, 'AWS::SQS::Queue');
  const keys = ingest.findResources('AWS::KMS::Key') as Resources;
  const alarmsById = ingest.findResources('AWS::CloudWatch::Alarm') as Resources;
  const alarmOf = (fragment: string): [string, Record<string, unknown>] => {
    const [id, alarm] = only(ingest, 'AWS::CloudWatch::Alarm', fragment);
    return [id, alarm.Properties];
  };
  const variablesOf = (resource: Resource): Record<string, unknown> =>
    (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const clusterArn = { 'Fn::ImportValue': expect.stringMatching(`cdp-${name}-streaming:.*Kafka.*Arn`) };
  const topicArn = `arn:<token>:kafka:${config.region}:${config.account}:topic/cdp-${name}/<token>/${config.consumer.topic}`;
  // The API stack holds the routes; these are the ones integrated with the ingest alias.
  const ingestRoutes = aliasRoutesOf(api, aliasId, importOfRef(`cdp-${name}-ingest`, aliasId));

  it(`is a stateless stack named cdp-${name}-ingest, without termination protection`, () => {
    expect(stage.ingest.stackName).toBe(`cdp-${name}-ingest`);
    expect(stage.ingest.terminationProtection).toBe(false);
    ingest.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  });

  describe('HTTP routes', () => {
    it('serves POST /v1/events and POST /v1/events/batch on the shared API, each requiring IAM (SigV4) authorization', () => {
      expectIamAuthorizedRoutes(ingestRoutes, ['POST /v1/events', 'POST /v1/events/batch']);
    });

    it('integrates both routes with the live alias of the ingest function, payload format 2.0', () => {
      expectLiveAliasRoutes(ingestRoutes, alias, functionId);
    });

    it('lets API Gateway invoke the alias only for the ingest routes of the API', () => {
      expectApiInvokePermissions(api, ingestRoutes, config, ['/v1/events', '/v1/events/batch']);
    });
  });

  describe('ingest function', () => {
    it('runs on nodejs22.x arm64 in the compute subnets with 512 MiB, traced, within 10 s', () => {
      expectPlatformFunction(fn, { MemorySize: 512, Timeout: 10 });
    });

    it('is told the topic, the cluster, the Redis endpoint and secret, the spillover queue with its bound and the producer settings', () => {
      expect(variablesOf(fn)).toEqual({
        TOPIC: config.consumer.topic,
        CLUSTER_ARN: clusterArn,
        ...REDIS_VARIABLES,
        SPILLOVER_QUEUE_URL: { Ref: queueId },
        SPILLOVER_MAX_DEPTH: String(config.ingest.spilloverMaxDepth),
        PRODUCER_COMPRESSION: config.ingest.producer.compression,
        PRODUCER_MAX_RECORDS_PER_REQUEST: String(config.ingest.producer.maxRecordsPerRequest),
        POWERTOOLS_METRICS_NAMESPACE: 'CustomerDataPlatform',
        POWERTOOLS_SERVICE_NAME: 'ingest',
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it('may write the consumer topic (its exact ARN) idempotently, and produce nowhere else', () => {
      const statements = statementsOf(ingest, 'IngestFunction');
      const kafkaCluster = withAction(statements, 'kafka-cluster:');
      const onTopic = kafkaCluster.filter((s) => actionsOf(s).includes('kafka-cluster:WriteData'));

      expect(onTopic).toHaveLength(1);
      expect(actionsOf(onTopic[0] as Statement).sort()).toEqual([
        'kafka-cluster:DescribeTopic',
        'kafka-cluster:WriteData',
      ]);
      expect(joined(onTopic[0]?.Resource)).toBe(topicArn);
      expect(kafkaCluster.flatMap(actionsOf).sort()).toEqual([
        'kafka-cluster:Connect',
        'kafka-cluster:DescribeCluster',
        'kafka-cluster:DescribeTopic',
        'kafka-cluster:WriteData',
        'kafka-cluster:WriteDataIdempotently',
      ]);
      for (const statement of withAction(statements, 'kafka:')) {
        expect(actionsOf(statement).sort()).toEqual([
          'kafka:DescribeCluster',
          'kafka:DescribeClusterV2',
          'kafka:GetBootstrapBrokers',
        ]);
        expect(statement.Resource).toEqual(clusterArn);
      }
    });

    it('may spill to the queue and read its depth, but not receive or delete spilled events', () => {
      const statements = statementsOf(ingest, 'IngestFunction');
      const sqs = withAction(statements, 'sqs:');
      const spilloverKey = withAction(statements, 'kms:').filter((s) =>
        JSON.stringify(s.Condition).includes('sqs.'),
      );

      expect(sqs).toHaveLength(1);
      expect(actionsOf(sqs[0] as Statement).sort()).toEqual(['sqs:GetQueueAttributes', 'sqs:SendMessage']);
      expect(sqs[0]?.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
      expect(spilloverKey).toHaveLength(1);
      expect(actionsOf(spilloverKey[0] as Statement).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(spilloverKey[0]?.Resource).toEqual({
        'Fn::GetAtt': [referencedId(queue.Properties.KmsMasterKeyId), 'Arn'],
      });
      expect(spilloverKey[0]?.Condition).toEqual({
        StringEquals: { 'kms:ViaService': `sqs.${config.region}.amazonaws.com` },
      });
    });

    it('holds no wildcard action and nothing on Resource "*" but X-Ray', () => {
      const statements = statementsOf(ingest, 'IngestFunction');

      expectOnlyXRayOnAnyResource(statements);
      expect(statements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
      expect(JSON.stringify(statements)).not.toMatch(/topic\/[^"]*\/\*"/);
      expect(statements.flatMap(actionsOf).some((a) => /^(rds|rds-data|execute-api):/.test(a))).toBe(false);
      expect(statements.flatMap(actionsOf)).toEqual(
        expect.arrayContaining(['secretsmanager:GetSecretValue', 'elasticache:DescribeReplicationGroups']),
      );
    });

    it(`deploys the alias with ${DEPLOYMENT_CONFIG_NAMES[name]}, rolled back by errors and p99 only`, () => {
      const { guardedAlarmIds } = expectGuardedDeployment(ingest, name);

      expect(guardedAlarmIds.sort()).toEqual(
        [alarmOf('IngestErrors')[0], alarmOf('IngestDuration')[0]].sort(),
      );
      expect(alarmsById[alarmOf('IngestErrors')[0]]?.Properties).toMatchObject({
        Threshold: config.alarms.functionErrors,
      });
      expect(alarmsById[alarmOf('IngestDuration')[0]]?.Properties).toMatchObject({
        Threshold: config.alarms.durationP99Millis,
      });
    });
  });

  describe('spillover queue', () => {
    it('is a FIFO queue deduplicated by the given id (not by content), keeping events 14 days', () => {
      expect(queue.Properties).toMatchObject({
        FifoQueue: true,
        ContentBasedDeduplication: false,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
      expect(queue.DeletionPolicy).toBe('Retain');
    });

    it('has no dead-letter queue: a redrive would reorder and strand spilled events', () => {
      expect(queue.Properties.RedrivePolicy).toBeUndefined();
      ingest.resourceCountIs('AWS::SQS::Queue', 1);
    });

    it('is encrypted with its own rotating, retained KMS key', () => {
      const keyId = referencedId(queue.Properties.KmsMasterKeyId) ?? '';

      expect(queue.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(keys[keyId]?.Properties.EnableKeyRotation).toBe(true);
      expect(keys[keyId]?.DeletionPolicy).toBe('Retain');
    });

    it('refuses every request not made over TLS', () => {
      ingest.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });
  });

  describe('spillover drainer', () => {
    it('runs on nodejs22.x arm64 in the compute subnets, finishing within the schedule interval', () => {
      expect(drainer.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        VpcConfig: { SecurityGroupIds: [{ 'Fn::ImportValue': expect.stringMatching('ComputeSg') }] },
      });
      expect(drainer.Properties.Timeout as number).toBeLessThan(60);
      expect(variablesOf(drainer)).toEqual({
        TOPIC: config.consumer.topic,
        CLUSTER_ARN: clusterArn,
        SPILLOVER_QUEUE_URL: { Ref: queueId },
        PRODUCER_COMPRESSION: config.ingest.producer.compression,
        PRODUCER_MAX_RECORDS_PER_REQUEST: String(config.ingest.producer.maxRecordsPerRequest),
        POWERTOOLS_METRICS_NAMESPACE: 'CustomerDataPlatform',
        POWERTOOLS_SERVICE_NAME: 'spillover-drainer',
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it('may receive and delete spilled events and write the consumer topic, and nothing else', () => {
      const statements = statementsOf(ingest, 'DrainerFunction');
      const sqs = withAction(statements, 'sqs:');
      const onTopic = statements.filter((s) => actionsOf(s).includes('kafka-cluster:WriteData'));
      const spilloverKey = withAction(statements, 'kms:');

      expect(sqs).toHaveLength(1);
      expect(actionsOf(sqs[0] as Statement).sort()).toEqual([
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
      ]);
      expect(sqs[0]?.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
      expect(spilloverKey.flatMap(actionsOf)).toEqual(['kms:Decrypt']);
      expect(spilloverKey[0]?.Condition).toEqual({
        StringEquals: { 'kms:ViaService': `sqs.${config.region}.amazonaws.com` },
      });
      expect(onTopic).toHaveLength(1);
      expect(joined(onTopic[0]?.Resource)).toBe(topicArn);
      expectOnlyXRayOnAnyResource(statements);
      expect(statements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
      expect(
        statements.flatMap(actionsOf).some((a) => /^(secretsmanager|elasticache|rds-data):/.test(a)),
      ).toBe(false);
    });

    it('is invoked every minute through its live alias by EventBridge Scheduler, never retried', () => {
      const [, schedule] = only(ingest, 'AWS::Scheduler::Schedule');
      const [, group] = only(ingest, 'AWS::Scheduler::ScheduleGroup');
      const [, invokeConfig] = only(ingest, 'AWS::Lambda::EventInvokeConfig');

      expect(group.Properties.Name).toBe(`cdp-${name}-ingest`);
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        GroupName: `cdp-${name}-ingest`,
        Target: {
          Arn: { Ref: drainerAliasId },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        },
      });
      expect(drainerAlias.Properties).toMatchObject({ Name: 'live', FunctionName: { Ref: drainerId } });
      expect(invokeConfig.Properties).toMatchObject({
        FunctionName: { Ref: drainerId },
        Qualifier: { 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: drainerAliasId }] }] },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    });

    it("lets the scheduler's role invoke the drainer's alias and nothing else", () => {
      const statements = statementsOf(ingest, 'SchedulerRoleForTarget');

      expect(statements).toEqual([
        { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { Ref: drainerAliasId } },
      ]);
    });
  });

  describe('alarms', () => {
    const sqsDimensions = [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }];
    const ingestDimensions = [{ Name: 'service', Value: 'ingest' }];

    it('keeps the logical ids the spillover and broker alarms had before they moved into their construct', () => {
      expect(Object.keys(alarmsById).sort()).toEqual([
        'BreakerOpenAlarm5849419F',
        'DrainStalledAlarm11C81435',
        'IngestDurationAlarmAEA80CC8',
        'IngestErrorsAlarmA2B1CFFA',
        'PublishErrorsAlarm785CAD5E',
        'SpillAgeAlarmE485DA0F',
        'SpillDepthAlarm27C37D89',
      ]);
    });

    it(`alarms when more than ${config.ingest.spillDepthAlarm} spilled events wait to be drained`, () => {
      expect(alarmOf('SpillDepth')[1]).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: sqsDimensions,
        Statistic: 'Maximum',
        Period: 60,
        Threshold: config.ingest.spillDepthAlarm,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      expect(config.ingest.spillDepthAlarm).toBeLessThan(config.ingest.spilloverMaxDepth);
    });

    it('alarms when the oldest spilled event is more than 5 minutes old', () => {
      expect(alarmOf('SpillAge')[1]).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: sqsDimensions,
        Statistic: 'Maximum',
        Threshold: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it('alarms when produce requests failed in each of 2 minutes', () => {
      expect(alarmOf('PublishErrors')[1]).toMatchObject({
        Namespace: 'CustomerDataPlatform',
        MetricName: 'PublishErrors',
        Dimensions: ingestDimensions,
        Statistic: 'Sum',
        Period: 60,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
      });
    });

    it("alarms as soon as the brokers' breaker opens", () => {
      expect(alarmOf('BreakerOpen')[1]).toMatchObject({
        Namespace: 'CustomerDataPlatform',
        MetricName: 'BreakerOpen',
        Dimensions: ingestDimensions,
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
      });
    });

    it('alarms when events waited and none was drained for 10 minutes', () => {
      const [, stalled] = alarmOf('DrainStalled');
      const metrics = stalled.Metrics as Array<{
        Id: string;
        Expression?: string;
        ReturnData?: boolean;
        MetricStat?: { Metric: Record<string, unknown>; Period: number; Stat: string };
      }>;
      const byId = Object.fromEntries(metrics.map((m) => [m.Id, m]));

      expect(stalled).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 10,
        DatapointsToAlarm: 10,
        TreatMissingData: 'notBreaching',
      });
      expect(metrics.filter((m) => m.ReturnData !== false)).toEqual([
        expect.objectContaining({ Expression: 'IF(FILL(depth, 0) > 0 AND FILL(drained, 0) == 0, 1, 0)' }),
      ]);
      expect(byId.depth?.MetricStat).toEqual({
        Metric: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: sqsDimensions,
        },
        Period: 60,
        Stat: 'Maximum',
      });
      expect(byId.drained?.MetricStat).toEqual({
        Metric: { Namespace: 'CustomerDataPlatform', MetricName: 'Drained', Dimensions: ingestDimensions },
        Period: 60,
        Stat: 'Sum',
      });
    });

    it('notifies an encrypted, TLS-only SNS topic from every alarm, on alarm and on recovery', () => {
      expectAlarmsNotifyEncryptedTopic(ingest, { alarmCount: 7 });
    });
  });

  it('keeps every key of the stack rotating', () => {
    for (const key of Object.values(keys)) expect(key.Properties.EnableKeyRotation).toBe(true);
  });
});
