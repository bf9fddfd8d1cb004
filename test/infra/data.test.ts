import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { availabilityZonesOf, ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { DataStack } from '../../lib/stacks/DataStack.js';
import { NetworkStack } from '../../lib/stacks/NetworkStack.js';
import { synthesize } from '../support/synth.js';
import { referencedId } from '../support/templateQueries.js';

interface Resource {
  readonly Properties: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
  readonly DependsOn?: string[];
}
type Resources = Record<string, Resource>;

/**
 * Rebuilds a JSON document serialized with `Stack.toJsonString` (an `Fn::Join` of literal fragments and
 * tokens), replacing each token by `<LogicalId>` so the document can be parsed and inspected.
 */
const parseJoinedJson = (value: unknown): unknown => {
  const join = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const text = join[1]
    .map((part) => (typeof part === 'string' ? part : `<${referencedId(part) ?? 'token'}>`))
    .join(join[0]);
  return JSON.parse(text);
};

const importOf = (exportFragment: string) => ({ 'Fn::ImportValue': Match.stringLikeRegexp(exportFragment) });

describe.each(ENVIRONMENT_NAMES)('DataStack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { aurora, cache, shardCount } = config.data;
  const { data } = synthesize(name);
  const clusters = data.findResources('AWS::RDS::DBCluster') as Resources;
  const instances = Object.entries(data.findResources('AWS::RDS::DBInstance') as Resources);
  const instancesOf = (clusterId: string, member = '') =>
    instances
      .filter(
        ([id, i]) => referencedId(i.Properties.DBClusterIdentifier) === clusterId && id.includes(member),
      )
      .map(([, i]) => i);
  const keys = data.findResources('AWS::KMS::Key') as Resources;
  /** `reference` names a customer-managed key of this stack with automatic rotation. */
  const expectRotatingKey = (reference: unknown) => {
    expect(reference).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
    expect(keys[referencedId(reference) ?? '']?.Properties.EnableKeyRotation).toBe(true);
  };

  it('creates one Aurora PostgreSQL Serverless v2 cluster per shard', () => {
    data.resourceCountIs('AWS::RDS::DBCluster', shardCount);
    if (name === 'prod') expect(shardCount).toBeGreaterThanOrEqual(4);
    data.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: aurora.engineVersion,
      ServerlessV2ScalingConfiguration: {
        MinCapacity: aurora.minCapacityAcu,
        MaxCapacity: aurora.maxCapacityAcu,
      },
      DatabaseName: 'customers',
      Port: aurora.port,
    });
  });

  it('gives every shard a writer and its readers, each in a distinct availability zone', () => {
    const zones = availabilityZonesOf(config);
    for (const clusterId of Object.keys(clusters)) {
      const members = instancesOf(clusterId);
      const memberZones = members.map((i) => i.Properties.AvailabilityZone);

      expect(members).toHaveLength(1 + aurora.readersPerShard);
      expect(new Set(memberZones).size).toBe(members.length);
      for (const zone of memberZones) expect(zones).toContain(zone);
      for (const member of members) expect(member.Properties.DBInstanceClass).toBe('db.serverless');
    }
  });

  it('spreads the writers of the shards over the zones', () => {
    const writerZones = Object.keys(clusters).map(
      (clusterId) => instancesOf(clusterId, 'Writer')[0]?.Properties.AvailabilityZone,
    );

    expect(new Set(writerZones).size).toBe(Math.min(shardCount, config.availabilityZoneCount));
  });

  it('makes the first reader the preferred failover target and keeps every instance scaling with the writer', () => {
    const expected = [0, 0, ...Array.from({ length: aurora.readersPerShard - 1 }, () => 1)];
    for (const clusterId of Object.keys(clusters)) {
      const tiers = instancesOf(clusterId)
        .map((i) => i.Properties.PromotionTier as number)
        .sort((a, b) => a - b);

      expect(tiers).toEqual(expected);
      expect(instancesOf(clusterId, 'Reader1')[0]?.Properties.PromotionTier).toBe(0);
    }
  });

  it('enables the Data API, IAM authentication and storage encryption with a rotating customer key', () => {
    for (const cluster of Object.values(clusters)) {
      expect(cluster.Properties).toMatchObject({
        EnableHttpEndpoint: true,
        EnableIAMDatabaseAuthentication: true,
        StorageEncrypted: true,
        CopyTagsToSnapshot: true,
      });
      expectRotatingKey(cluster.Properties.KmsKeyId);
    }
  });

  it(`protects data on deletion (${config.data.aurora.retainOnDelete ? 'Retain' : 'Snapshot'}) and keeps backups`, () => {
    const policy = aurora.retainOnDelete ? 'Retain' : 'Snapshot';
    for (const cluster of Object.values(clusters)) {
      expect(cluster.DeletionPolicy).toBe(policy);
      expect(cluster.UpdateReplacePolicy).toBe(policy);
      expect(cluster.Properties).toMatchObject({
        DeletionProtection: aurora.deletionProtection,
        BackupRetentionPeriod: aurora.backupRetentionDays,
        PreferredBackupWindow: expect.stringMatching(/^\d\d:\d\d-\d\d:\d\d$/),
      });
    }
    if (name === 'prod') {
      data.allResources('AWS::RDS::DBCluster', { DeletionPolicy: 'Retain' });
      for (const cluster of Object.values(clusters)) expect(cluster.Properties.DeletionProtection).toBe(true);
    }
  });

  it('keeps the admin password in Secrets Manager and rotates it on every shard', () => {
    const schedules = Object.values(data.findResources('AWS::SecretsManager::RotationSchedule') as Resources);
    const attachments = data.findResources('AWS::SecretsManager::SecretTargetAttachment') as Resources;

    for (const cluster of Object.values(clusters)) {
      const password = JSON.stringify(cluster.Properties.MasterUserPassword);
      expect(password).toContain('{{resolve:secretsmanager:');
      const secretId = referencedId(cluster.Properties.MasterUserPassword);
      const attachmentId = Object.keys(attachments).find(
        (id) => referencedId(attachments[id]?.Properties.SecretId) === secretId,
      );
      const schedule = schedules.find((s) => referencedId(s.Properties.SecretId) === attachmentId);
      expect(schedule?.Properties.RotationRules).toEqual({
        ScheduleExpression: `rate(${aurora.secretRotationDays} days)`,
      });
    }
    data.resourceCountIs('AWS::SecretsManager::RotationSchedule', shardCount);
    data.allResourcesProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
    });
  });

  it('runs the rotation function in the compute tier so it can reach the database and Secrets Manager', () => {
    data.allResourcesProperties('AWS::Serverless::Application', {
      Parameters: Match.objectLike({
        vpcSecurityGroupIds: importOf('ComputeSg'),
        vpcSubnetIds: { 'Fn::Join': ['', Match.arrayWith([importOf('computeSubnet')])] },
      }),
    });
    const applications = Object.values(data.findResources('AWS::Serverless::Application') as Resources);
    expect(applications).toHaveLength(shardCount);
    for (const application of applications) expect(JSON.stringify(application)).not.toContain('dataSubnet');
  });

  it('places the clusters in the data subnets behind the database security group only', () => {
    data.allResourcesProperties('AWS::RDS::DBCluster', { VpcSecurityGroupIds: [importOf('DatabaseSg')] });
    data.allResourcesProperties('AWS::RDS::DBSubnetGroup', {
      SubnetIds: Match.arrayWith([importOf('dataSubnet')]),
    });
  });

  it('exports the PostgreSQL log to an encrypted log group created before the cluster', () => {
    const logGroups = data.findResources('AWS::Logs::LogGroup') as Resources;
    for (const [clusterId, cluster] of Object.entries(clusters)) {
      expect(cluster.Properties.EnableCloudwatchLogsExports).toEqual(['postgresql']);
      const logName = `/aws/rds/cluster/${String(cluster.Properties.DBClusterIdentifier)}/postgresql`;
      const [logId, log] =
        Object.entries(logGroups).find(([, l]) => l.Properties.LogGroupName === logName) ?? [];

      expectRotatingKey(log?.Properties.KmsKeyId);
      expect(log?.Properties.RetentionInDays).toBe(config.network.flowLogRetentionDays);
      expect(clusters[clusterId]?.DependsOn).toContain(logId);
    }
  });

  it('runs one Multi-AZ Redis replication group with automatic failover and distinct zones', () => {
    data.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 1);
    const nodeGroups = new Capture();
    data.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'redis',
      EngineVersion: cache.engineVersion,
      CacheNodeType: cache.nodeType,
      NumNodeGroups: 1,
      ReplicasPerNodeGroup: cache.replicasPerNodeGroup,
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
      AutoMinorVersionUpgrade: true,
      NodeGroupConfiguration: nodeGroups,
    });
    const [group] = nodeGroups.asArray() as Array<{
      PrimaryAvailabilityZone: string;
      ReplicaAvailabilityZones: string[];
    }>;
    const zones = [group?.PrimaryAvailabilityZone, ...(group?.ReplicaAvailabilityZones ?? [])];

    expect(cache.replicasPerNodeGroup).toBeGreaterThanOrEqual(1);
    expect(zones).toHaveLength(1 + cache.replicasPerNodeGroup);
    expect(new Set(zones).size).toBe(zones.length);
  });

  it('requires TLS and AUTH, encrypts at rest with a customer key and keeps snapshots', () => {
    const authToken = new Capture();
    const key = new Capture();
    data.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AtRestEncryptionEnabled: true,
      KmsKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
      AuthToken: authToken,
      Port: cache.port,
      SnapshotRetentionLimit: cache.snapshotRetentionDays,
    });

    expect(cache.port).not.toBe(6379);
    expect(typeof authToken.asObject()).toBe('object');
    expect(JSON.stringify(authToken.asObject())).toMatch(
      /^\{"Fn::Join":\["",\["\{\{resolve:secretsmanager:"/,
    );
    const secrets = data.findResources('AWS::SecretsManager::Secret') as Resources;
    const secret = secrets[referencedId(authToken.asObject()) ?? '']?.Properties;
    expect(secret?.GenerateSecretString).toMatchObject({ ExcludePunctuation: true, PasswordLength: 64 });
    expectRotatingKey(secret?.KmsKeyId);
    expectRotatingKey({ 'Fn::GetAtt': [key.asString(), 'Arn'] });
  });

  it('admits clients through the cache security group only, in the data subnets', () => {
    data.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      SecurityGroupIds: [importOf('CacheSg')],
    });
    data.hasResourceProperties('AWS::ElastiCache::SubnetGroup', {
      SubnetIds: Match.arrayWith([importOf('dataSubnet')]),
    });
  });

  it('delivers the slow and engine logs to an encrypted log group', () => {
    const logGroup = new Capture();
    data.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      LogDeliveryConfigurations: Match.arrayWith(
        ['slow-log', 'engine-log'].map((logType) =>
          Match.objectLike({
            LogType: logType,
            DestinationType: 'cloudwatch-logs',
            DestinationDetails: { CloudWatchLogsDetails: { LogGroup: { Ref: logGroup } } },
          }),
        ),
      ),
    });
    const logGroups = data.findResources('AWS::Logs::LogGroup') as Resources;
    expectRotatingKey(logGroups[logGroup.asString()]?.Properties.KmsKeyId);
  });

  it('publishes the shard map with every shard, its cluster, secret and database', () => {
    const value = new Capture();
    data.hasResourceProperties('AWS::SSM::Parameter', {
      Name: `/cdp/${name}/shard-map`,
      Type: 'String',
      Value: value,
    });
    const map = parseJoinedJson(value.asObject()) as {
      version: number;
      shards: Array<{ id: string; clusterArn: string; secretArn: string; database: string }>;
    };
    const attachments = Object.keys(data.findResources('AWS::SecretsManager::SecretTargetAttachment'));

    expect(map.version).toBe(1);
    expect(map.shards.map((s) => s.id)).toEqual(Array.from({ length: shardCount }, (_, i) => `shard-${i}`));
    expect(map.shards.map((s) => /:cluster:<(\w+)>$/.exec(s.clusterArn)?.[1]).sort()).toEqual(
      Object.keys(clusters).sort(),
    );
    for (const shard of map.shards) {
      expect(shard.database).toBe('customers');
      expect(attachments).toContain(/^<(\w+)>$/.exec(shard.secretArn)?.[1]);
    }
  });

  it('publishes the primary cache endpoint as host:port', () => {
    data.hasResourceProperties('AWS::SSM::Parameter', {
      Name: `/cdp/${name}/cache-endpoint`,
      Value: {
        'Fn::Join': [
          '',
          [
            { 'Fn::GetAtt': [Match.anyValue(), 'PrimaryEndPoint.Address'] },
            ':',
            { 'Fn::GetAtt': [Match.anyValue(), 'PrimaryEndPoint.Port'] },
          ],
        ],
      },
    });
  });
});

describe('DataStack grants', () => {
  it('lets a function in another stack use every shard and the cache with least privilege, without a cycle', () => {
    // Prepare
    const config = loadEnvironmentConfig('dev');
    const app = new App();
    const network = new NetworkStack(app, 'Network', { config });
    const stack = new DataStack(app, 'Data', {
      config,
      vpc: network.vpc,
      dataSubnets: network.dataSubnets,
      computeSubnets: network.computeSubnets,
      securityGroups: network.securityGroups,
    });
    const consumerStack = new Stack(app, 'Consumer', {
      env: { account: config.account, region: config.region },
    });
    const role = new iam.Role(consumerStack, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });

    // Act
    stack.grantShardAccess(role);
    stack.cache.grantConnect(role);

    // Assess: synthesizing both proves there is no reference cycle between the stacks
    const consumer = Template.fromStack(consumerStack);
    const data = Template.fromStack(stack);
    const statements = new Capture();
    consumer.hasResourceProperties('AWS::IAM::Policy', { PolicyDocument: { Statement: statements } });
    const granted = statements.asArray() as Array<{
      Action: string | string[];
      Resource: unknown;
      Condition?: unknown;
    }>;
    const actions = granted.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    const decrypts = granted.filter((s) => s.Action === 'kms:Decrypt');

    expect(
      granted.filter((s) => JSON.stringify(s.Action).includes('rds-data:ExecuteStatement')),
    ).toHaveLength(config.data.shardCount);
    expect(actions).toEqual(
      expect.arrayContaining([
        'ssm:GetParameter',
        'secretsmanager:GetSecretValue',
        'elasticache:DescribeReplicationGroups',
      ]),
    );
    expect(decrypts).toHaveLength(config.data.shardCount + 1);
    for (const decrypt of decrypts) {
      expect(decrypt.Condition).toEqual({
        StringEquals: { 'kms:ViaService': `secretsmanager.${config.region}.amazonaws.com` },
      });
    }
    expect(actions.filter((a) => a.endsWith(':*') || a === '*')).toEqual([]);
    for (const statement of granted) expect(statement.Resource).not.toBe('*');
    expect(JSON.stringify(data.toJSON())).not.toContain('Consumer');
  });
});
