import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, type EnvironmentName, loadEnvironmentConfig } from '../../lib/config/index.js';
import { KafkaCluster } from '../../lib/constructs/KafkaCluster.js';
import { PlatformFunction } from '../../lib/constructs/PlatformFunction.js';
import { synthesize } from '../support/synth.js';

/** Logical ids of the Network stack's subnets in the named subnet group. */
const subnetIdsOf = (network: Template, group: string): string[] =>
  Object.entries(network.findResources('AWS::EC2::Subnet'))
    .filter(([, subnet]) =>
      (subnet.Properties.Tags as Array<{ Key: string; Value: string }>).some(
        (tag) => tag.Key === 'aws-cdk:subnet-name' && tag.Value === group,
      ),
    )
    .map(([logicalId]) => logicalId);

/** The Network stack logical id each `Fn::ImportValue` of `imports` refers to, as far as it names one. */
const importedIds = (imports: unknown, candidates: readonly string[]): string[] =>
  (imports as Array<{ 'Fn::ImportValue': string }>).map((value) => {
    const name = value['Fn::ImportValue'];
    const match = candidates.find((id) => name.includes(id));
    if (match === undefined) throw new Error(`${name} refers to none of ${candidates.join(', ')}`);
    return match;
  });

const onlyResource = (
  template: Template,
  type: string,
): [string, { Properties: Record<string, unknown> }] => {
  const resources = Object.entries(template.findResources(type));
  expect(resources).toHaveLength(1);
  const [entry] = resources;
  if (entry === undefined) throw new Error(`no ${type}`);
  return entry as [string, { Properties: Record<string, unknown> }];
};

const EXPECTED = {
  dev: { brokers: 3, instanceType: 'kafka.t3.small', storage: 100, eventsPartitions: 12, removal: 'Delete' },
  uat: { brokers: 3, instanceType: 'kafka.m7g.large', storage: 250, eventsPartitions: 12, removal: 'Delete' },
  prod: {
    brokers: 6,
    instanceType: 'kafka.m7g.xlarge',
    storage: 1000,
    eventsPartitions: 24,
    removal: 'Retain',
  },
} as const satisfies Record<EnvironmentName, unknown>;

/** The Kafka version the local clusters run (the broker jars pinned in `local/kafka/pom.xml`). */
const localKafkaVersion = (): string => {
  const pom = readFileSync(join(import.meta.dirname, '..', '..', 'local', 'kafka', 'pom.xml'), 'utf8');
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (version === undefined) throw new Error('local/kafka/pom.xml names no kafka.version');
  return version;
};

describe.each(ENVIRONMENT_NAMES)('Streaming stack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const expected = EXPECTED[name];
  const { streaming, network } = synthesize(name);

  it('runs MSK in KRaft mode on the same Kafka minor version as the local broker the tests use', () => {
    // Prepare
    const [major, minor] = localKafkaVersion().split('.');
    // Assess
    expect(config.streaming.kafkaVersion).toBe(`${major}.${minor}.x.kraft`);
    streaming.hasResourceProperties('AWS::MSK::Cluster', { KafkaVersion: `${major}.${minor}.x.kraft` });
  });

  it('runs one MSK cluster with the configured brokers, spread over three distinct data subnets', () => {
    // Prepare
    const clientSubnets = new Capture();

    // Assess
    streaming.resourceCountIs('AWS::MSK::Cluster', 1);
    streaming.hasResourceProperties('AWS::MSK::Cluster', {
      ClusterName: `cdp-${name}`,
      KafkaVersion: config.streaming.kafkaVersion,
      NumberOfBrokerNodes: expected.brokers,
      BrokerNodeGroupInfo: {
        ClientSubnets: clientSubnets,
        InstanceType: expected.instanceType,
        StorageInfo: { EBSStorageInfo: { VolumeSize: expected.storage } },
        ConnectivityInfo: { PublicAccess: { Type: 'DISABLED' } },
        SecurityGroups: [{ 'Fn::ImportValue': Match.stringLikeRegexp('BrokerSg') }],
      },
    });
    const dataSubnets = subnetIdsOf(network, 'data');
    const used = importedIds(clientSubnets.asArray(), dataSubnets);
    expect(used).toHaveLength(3);
    expect(new Set(used).size).toBe(3);
    expect(expected.brokers % used.length).toBe(0);
  });

  it('configures brokers for durability and disables topic auto-creation', () => {
    // Prepare
    const serverProperties = new Capture();
    const [configurationId] = onlyResource(streaming, 'AWS::MSK::Configuration');

    // Assess
    streaming.hasResourceProperties('AWS::MSK::Configuration', { ServerProperties: serverProperties });
    const lines = serverProperties.asString().split('\n');
    expect(lines).toContain('default.replication.factor=3');
    expect(lines).toContain('min.insync.replicas=2');
    expect(lines).toContain('unclean.leader.election.enable=false');
    expect(lines).toContain('auto.create.topics.enable=false');
    expect(lines).toContain('num.partitions=6');
    expect(lines).toContain('offsets.topic.replication.factor=3');
    expect(lines).toContain('transaction.state.log.replication.factor=3');
    expect(lines).toContain('transaction.state.log.min.isr=2');
    expect(lines.every((line) => /^[a-z.]+=\S+$/.test(line))).toBe(true);
    streaming.hasResourceProperties('AWS::MSK::Cluster', {
      ConfigurationInfo: {
        Arn: { 'Fn::GetAtt': [configurationId, 'Arn'] },
        Revision: { 'Fn::GetAtt': [configurationId, 'LatestRevision.Revision'] },
      },
    });
  });

  it('encrypts in transit with TLS only and at rest with a rotating customer-managed key', () => {
    // Prepare
    const [keyId, key] = onlyResource(streaming, 'AWS::KMS::Key');

    // Assess
    expect(key.Properties.EnableKeyRotation).toBe(true);
    streaming.hasResourceProperties('AWS::MSK::Cluster', {
      EncryptionInfo: {
        EncryptionInTransit: { ClientBroker: 'TLS', InCluster: true },
        EncryptionAtRest: { DataVolumeKMSKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
      },
    });
  });

  it('authenticates clients with IAM only', () => {
    streaming.hasResourceProperties('AWS::MSK::Cluster', {
      ClientAuthentication: {
        Sasl: { Iam: { Enabled: true }, Scram: { Enabled: false } },
        Unauthenticated: { Enabled: false },
      },
    });
  });

  it('sends broker logs to an encrypted log group kept for the configured days', () => {
    // Prepare
    const logGroup = new Capture();
    const [keyId] = onlyResource(streaming, 'AWS::KMS::Key');

    // Assess
    streaming.hasResourceProperties('AWS::MSK::Cluster', {
      LoggingInfo: { BrokerLogs: { CloudWatchLogs: { Enabled: true, LogGroup: logGroup } } },
    });
    const ref = logGroup.asObject() as { Ref: string };
    const groups = streaming.findResources('AWS::Logs::LogGroup');
    expect(groups[ref.Ref]?.Properties).toMatchObject({
      LogGroupName: `/aws/msk/cdp-${name}/brokers`,
      RetentionInDays: config.streaming.logRetentionDays,
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  it('publishes per-partition metrics, so consumer lag is visible per partition', () => {
    streaming.hasResourceProperties('AWS::MSK::Cluster', { EnhancedMonitoring: 'PER_TOPIC_PER_PARTITION' });
  });

  it(`${expected.removal === 'Retain' ? 'retains' : 'deletes'} the cluster and its key with the stack`, () => {
    streaming.hasResource('AWS::MSK::Cluster', { DeletionPolicy: expected.removal });
    streaming.hasResource('AWS::KMS::Key', { DeletionPolicy: expected.removal });
  });

  it('declares the configured topics in the topic custom resource', () => {
    // Prepare
    const topics = new Capture();
    const [clusterId] = onlyResource(streaming, 'AWS::MSK::Cluster');

    // Assess
    streaming.resourceCountIs('Custom::KafkaTopics', 1);
    streaming.hasResourceProperties('Custom::KafkaTopics', {
      ClusterArn: { 'Fn::GetAtt': [clusterId, 'Arn'] },
      Topics: topics,
      TopicsHash: Match.stringLikeRegexp('^[0-9a-f]{64}$'),
    });
    expect(JSON.parse(topics.asString())).toEqual(config.streaming.topics);
    expect(config.streaming.topics[0]?.partitions).toBe(expected.eventsPartitions);
  });

  it('runs the topic manager on nodejs22.x arm64 in the compute subnets with the compute security group', () => {
    // Prepare
    const subnets = new Capture();

    // Assess
    streaming.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: { POWERTOOLS_SERVICE_NAME: 'kafka-topics', NODE_OPTIONS: '--enable-source-maps' },
      },
      LoggingConfig: { LogGroup: { Ref: Match.anyValue() } },
      VpcConfig: {
        SubnetIds: subnets,
        SecurityGroupIds: [{ 'Fn::ImportValue': Match.stringLikeRegexp('ComputeSg') }],
      },
    });
    const used = importedIds(subnets.asArray(), subnetIdsOf(network, 'compute'));
    expect(new Set(used).size).toBe(3);
  });

  it('lets the topic manager manage exactly the configured topics, without wildcards', () => {
    // Prepare
    const statements = new Capture();
    const [clusterId] = onlyResource(streaming, 'AWS::MSK::Cluster');
    const clusterArn = { 'Fn::GetAtt': [clusterId, 'Arn'] };

    // Assess
    streaming.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: statements },
      Roles: [{ Ref: Match.stringLikeRegexp('TopicsHandler') }],
    });
    const granted = statements.asArray() as Array<{ Action: string | string[]; Resource: unknown }>;
    const resourcesOf = (action: string): unknown[] =>
      granted.filter((s) => [s.Action].flat().includes(action)).flatMap((s) => [s.Resource].flat());
    expect(resourcesOf('kafka:GetBootstrapBrokers')).toEqual([clusterArn]);
    expect(resourcesOf('kafka-cluster:Connect')).toEqual([clusterArn]);
    expect(resourcesOf('kafka-cluster:DescribeCluster')).toEqual([clusterArn]);
    for (const action of [
      'kafka-cluster:CreateTopic',
      'kafka-cluster:DescribeTopic',
      'kafka-cluster:AlterTopic',
      'kafka-cluster:DescribeTopicDynamicConfiguration',
      'kafka-cluster:AlterTopicDynamicConfiguration',
    ]) {
      const topicArns = JSON.stringify(resourcesOf(action));
      for (const topic of config.streaming.topics) expect(topicArns).toContain(`"/${topic.name}"`);
      expect(topicArns).toContain(`topic/cdp-${name}/`);
      expect(topicArns).not.toContain('*');
    }
    expect(JSON.stringify(granted)).not.toMatch(/kafka-cluster:(Delete|\*)/);
  });
});

/** A bare stack with a three-AZ VPC, for testing the constructs on their own. */
const sandbox = (): { app: App; stack: Stack; vpc: ec2.Vpc; sg: ec2.SecurityGroup } => {
  const app = new App();
  const stack = new Stack(app, 'Sandbox', { env: { account: '111111111111', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
    natGateways: 0,
    subnetConfiguration: [{ name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const sg = new ec2.SecurityGroup(stack, 'Sg', { vpc });
  return { app, stack, vpc, sg };
};

const clusterIn = (env: ReturnType<typeof sandbox>, brokerCount = 3): KafkaCluster =>
  new KafkaCluster(env.stack, 'Kafka', {
    clusterName: 'cdp-test',
    kafkaVersion: '4.1.x.kraft',
    brokerCount,
    brokerInstanceType: 'kafka.t3.small',
    brokerStorageGiB: 10,
    vpc: env.vpc,
    subnets: { subnetGroupName: 'data' },
    securityGroup: env.sg,
    logRetentionDays: 7,
  });

/** `arn:<partition>:kafka:eu-west-1:111111111111:<kind>/cdp-test/<uuid from the cluster ARN>/<name>` */
const kafkaArn = (clusterId: string, kind: string, name: string): unknown => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      `:kafka:eu-west-1:111111111111:${kind}/cdp-test/`,
      { 'Fn::Select': [2, { 'Fn::Split': ['/', { 'Fn::GetAtt': [clusterId, 'Arn'] }] }] },
      `/${name}`,
    ],
  ],
});

describe('KafkaCluster grants', () => {
  it('scopes produce and consume grants to exact topic and group ARNs taken from the cluster ARN', () => {
    // Prepare
    const env = sandbox();
    const cluster = clusterIn(env);
    const producer = new iam.Role(env.stack, 'Producer', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    const consumer = new iam.Role(env.stack, 'Consumer', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });

    // Act
    cluster.grantProduce(producer, ['customer-events.v1']);
    cluster.grantConsume(consumer, ['customer-events.v1'], 'profile-writer');

    // Assess
    const template = Template.fromStack(env.stack);
    const clusterId = env.stack.getLogicalId(cluster.cluster);
    const clusterArn = { 'Fn::GetAtt': [clusterId, 'Arn'] };
    const topicArn = kafkaArn(clusterId, 'topic', 'customer-events.v1');
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: env.stack.getLogicalId(producer.node.defaultChild as iam.CfnRole) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['kafka-cluster:Connect']), Resource: clusterArn }),
          Match.objectLike({ Action: 'kafka-cluster:WriteDataIdempotently', Resource: clusterArn }),
          Match.objectLike({
            Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
            Resource: topicArn,
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: env.stack.getLogicalId(consumer.node.defaultChild as iam.CfnRole) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
            Resource: topicArn,
          }),
          Match.objectLike({
            Action: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
            Resource: kafkaArn(clusterId, 'group', 'profile-writer'),
          }),
        ]),
      },
    });
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('*');
  });

  it('gives admins every Kafka action on the cluster, its topics, groups and transactional ids', () => {
    // Prepare
    const env = sandbox();
    const cluster = clusterIn(env);
    const operator = new iam.Role(env.stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });

    // Act
    cluster.grantAdmin(operator);

    // Assess
    const clusterId = env.stack.getLogicalId(cluster.cluster);
    Template.fromStack(env.stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'kafka-cluster:*',
            Resource: [
              { 'Fn::GetAtt': [clusterId, 'Arn'] },
              kafkaArn(clusterId, 'topic', '*'),
              kafkaArn(clusterId, 'group', '*'),
              kafkaArn(clusterId, 'transactional-id', '*'),
            ],
          }),
        ]),
      },
    });
  });

  it('refuses a broker count that cannot be spread evenly over the AZs', () => {
    expect(() => clusterIn(sandbox(), 4)).toThrow(/4 brokers cannot be spread evenly over 3 AZs/);
  });
});

describe('PlatformFunction', () => {
  const functionIn = (env: ReturnType<typeof sandbox>, allowPutMetricData: boolean): PlatformFunction =>
    new PlatformFunction(env.stack, 'Fn', {
      name: 'kafka-topics',
      vpc: env.vpc,
      subnets: { subnetGroupName: 'data' },
      securityGroups: [env.sg],
      logRetentionDays: 30,
      ...(allowPutMetricData
        ? {
            wildcardResourceActions: [
              { action: 'cloudwatch:PutMetricData', reason: 'no resource-level permission' },
            ],
          }
        : {}),
    });
  const putMetricData = new iam.PolicyStatement({ actions: ['cloudwatch:PutMetricData'], resources: ['*'] });

  it('owns a log group with the given retention, kept when the function is deleted', () => {
    // Prepare
    const env = sandbox();
    const fn = functionIn(env, false);

    // Act
    const template = Template.fromStack(env.stack);

    // Assess
    const logGroupId = env.stack.getLogicalId(fn.logGroup.node.defaultChild as logs.CfnLogGroup);
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      LoggingConfig: { LogGroup: { Ref: logGroupId } },
    });
  });

  it('fails synthesis when a grant adds an undeclared action on Resource "*"', () => {
    // Prepare
    const env = sandbox();
    const fn = functionIn(env, false);

    // Act
    fn.grantPrincipal.addToPrincipalPolicy(putMetricData);

    // Assess
    expect(() => env.app.synth()).toThrow(/cloudwatch:PutMetricData on Resource "\*"/);
  });

  it('accepts a wildcard action declared with its reason', () => {
    // Prepare
    const env = sandbox();
    const fn = functionIn(env, true);

    // Act
    fn.grantPrincipal.addToPrincipalPolicy(putMetricData);

    // Assess
    expect(() => env.app.synth()).not.toThrow();
  });
});
