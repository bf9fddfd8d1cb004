import { ArnFormat, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config/index.js';
import { acknowledge } from '../nag.js';
import { allowLogsToUseKey } from './allowLogsToUseKey.js';

/** The cache settings of one environment, as validated by the config schema. */
export type SecondaryIndexCacheSettings = EnvironmentConfig['data']['cache'];

export interface SecondaryIndexCacheProps {
  readonly settings: SecondaryIndexCacheSettings;
  readonly vpc: ec2.IVpc;
  /** Where the nodes live (the isolated data tier). */
  readonly subnets: ec2.SubnetSelection;
  /** The replication group's only security group: admits compute on the cache port. */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Retention of the slow and engine logs. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Zones in placement order: the primary goes in the first, replica `n` in zone `n`.
   *
   * @default - the stack's availability zones
   */
  readonly availabilityZones?: readonly string[];
  /**
   * Physical replication group id (1-40 characters); named so operators and IAM policies can refer to it.
   *
   * @default - `<stack name>-index`, lower case
   */
  readonly replicationGroupId?: string;
}

/** A Redis endpoint; both values are deploy-time tokens. */
export interface CacheEndpoint {
  readonly hostname: string;
  readonly port: number;
  /** `host:port`. */
  readonly socketAddress: string;
}

/** UTC windows: snapshot first, maintenance after, both away from the European business day. */
const SNAPSHOT_WINDOW = '03:00-04:00';
const MAINTENANCE_WINDOW = 'sun:04:30-sun:05:30';
const AUTH_TOKEN_LENGTH = 64;
const REPLICATION_GROUP_ID = /^[a-z](-?[a-z0-9])*$/;

/**
 * The Redis secondary index (lookups by email, phone, external id onto customer ids and shards):
 * one node group with a primary and `replicasPerNodeGroup` replicas in distinct zones, Multi-AZ with
 * automatic failover, TLS required, AUTH with a generated token kept in Secrets Manager, and data,
 * snapshots, token and logs encrypted with the cache's own customer-managed key. Its content is derived
 * from the shards and can be rebuilt; it still takes a final snapshot on deletion to shorten a rebuild.
 */
export class SecondaryIndexCache extends Construct {
  public readonly replicationGroup: elasticache.CfnReplicationGroup;
  public readonly replicationGroupId: string;
  /** The group's nodes as CloudWatch names them (`CacheClusterId`): `<group id>-001`, `-002`, ... */
  public readonly memberClusterIds: readonly string[];
  public readonly replicationGroupArn: string;
  /** Where the primary is placed at creation (a failover moves it; this does not follow). */
  public readonly primaryAvailabilityZone: string;
  /** Writes and consistent reads. */
  public readonly primaryEndpoint: CacheEndpoint;
  /** Spreads reads over the replicas; may lag the primary slightly. */
  public readonly readerEndpoint: CacheEndpoint;
  /** The AUTH token (a plain string secret, not JSON). */
  public readonly authSecret: secretsmanager.ISecret;
  public readonly encryptionKey: kms.IKey;
  public readonly logGroup: logs.ILogGroup;

  /**
   * @throws {Error} when fewer zones than nodes are given, or the replication group id is invalid.
   */
  public constructor(scope: Construct, id: string, props: SecondaryIndexCacheProps) {
    super(scope, id);
    const { settings } = props;
    const stack = Stack.of(this);

    const zones = props.availabilityZones ?? stack.availabilityZones;
    const nodeCount = 1 + settings.replicasPerNodeGroup;
    const [primaryZone, ...replicaZones] = zones.slice(0, nodeCount);
    if (primaryZone === undefined || zones.length < nodeCount) {
      throw new Error(`cache: ${nodeCount} nodes need ${nodeCount} distinct zones, got ${zones.join(', ')}`);
    }
    const replicationGroupId = props.replicationGroupId ?? `${stack.stackName}-index`.toLowerCase();
    if (replicationGroupId.length > 40 || !REPLICATION_GROUP_ID.test(replicationGroupId)) {
      throw new Error(`cache: "${replicationGroupId}" is not a valid replication group id`);
    }

    const key = new kms.Key(this, 'Key', {
      description: `Data at rest, snapshots, AUTH token and logs of ${replicationGroupId}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.encryptionKey = key;

    const authSecret = new secretsmanager.Secret(this, 'AuthToken', {
      description: `Redis AUTH token of ${replicationGroupId}`,
      encryptionKey: key,
      generateSecretString: {
        passwordLength: AUTH_TOKEN_LENGTH,
        // Redis AUTH accepts printable ASCII except a few symbols; letters and digits avoid every quoting issue.
        excludePunctuation: true,
        includeSpace: false,
      },
    });
    this.authSecret = authSecret;

    const logGroupName = `/aws/elasticache/${replicationGroupId}`;
    allowLogsToUseKey(key, logGroupName);
    const logGroup = new logs.LogGroup(this, 'Log', {
      logGroupName,
      retention: props.logRetention,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.logGroup = logGroup;

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: `Data-tier subnets of ${replicationGroupId}`,
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
    });

    const delivery = (logType: 'slow-log' | 'engine-log') => ({
      logType,
      logFormat: 'json',
      destinationType: 'cloudwatch-logs',
      destinationDetails: { cloudWatchLogsDetails: { logGroup: logGroup.logGroupName } },
    });

    const group = new elasticache.CfnReplicationGroup(this, 'Resource', {
      replicationGroupId,
      replicationGroupDescription: 'Customer secondary index (identifier to customer and shard)',
      engine: 'redis',
      engineVersion: settings.engineVersion,
      cacheNodeType: settings.nodeType,
      clusterMode: 'disabled',
      numNodeGroups: 1,
      replicasPerNodeGroup: settings.replicasPerNodeGroup,
      nodeGroupConfiguration: [
        {
          nodeGroupId: '0001',
          primaryAvailabilityZone: primaryZone,
          replicaAvailabilityZones: replicaZones,
          replicaCount: settings.replicasPerNodeGroup,
        },
      ],
      multiAzEnabled: true,
      automaticFailoverEnabled: true,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [props.securityGroup.securityGroupId],
      port: settings.port,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      // A dynamic reference: CloudFormation resolves it at deploy time, the template never holds the token.
      authToken: authSecret.secretValue.unsafeUnwrap(),
      atRestEncryptionEnabled: true,
      kmsKeyId: key.keyArn,
      snapshotRetentionLimit: settings.snapshotRetentionDays,
      snapshotWindow: SNAPSHOT_WINDOW,
      preferredMaintenanceWindow: MAINTENANCE_WINDOW,
      autoMinorVersionUpgrade: true,
      logDeliveryConfigurations: [delivery('slow-log'), delivery('engine-log')],
    });
    group.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);
    this.replicationGroup = group;
    this.primaryAvailabilityZone = primaryZone;
    this.replicationGroupId = group.ref;
    this.memberClusterIds = Array.from(
      { length: 1 + settings.replicasPerNodeGroup },
      (_, i) => `${replicationGroupId}-${String(i + 1).padStart(3, '0')}`,
    );
    this.replicationGroupArn = stack.formatArn({
      service: 'elasticache',
      resource: 'replicationgroup',
      resourceName: group.ref,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const endpoint = (hostname: string, port: string): CacheEndpoint => ({
      hostname,
      port: Token.asNumber(port),
      socketAddress: `${hostname}:${port}`,
    });
    this.primaryEndpoint = endpoint(group.attrPrimaryEndPointAddress, group.attrPrimaryEndPointPort);
    this.readerEndpoint = endpoint(group.attrReaderEndPointAddress, group.attrReaderEndPointPort);

    acknowledge(authSecret, {
      id: 'AwsSolutions-SMG4',
      reason:
        'Secrets Manager cannot rotate a Redis AUTH token on its own: the replication group must first accept ' +
        'both tokens (ModifyReplicationGroup with AuthTokenUpdateStrategy ROTATE) and every client must reconnect ' +
        'before SET retires the old one, so rotation is an operator-run ElastiCache procedure, not a schedule. ' +
        'The token is 64 random characters, KMS-encrypted, sent only over TLS inside an isolated VPC, and ' +
        'readable only by roles granted through grantConnect.',
    });
  }

  /**
   * Lets `grantee` connect: read the AUTH token (decrypting it only through Secrets Manager), and
   * describe this replication group for health checks and endpoint discovery. Every permission goes on
   * the grantee's own policy, so a grantee in another stack adds no reference back to it.
   */
  public grantConnect(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resourceArns: [this.authSecret.secretArn],
    })
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['kms:Decrypt'],
          resourceArns: [this.encryptionKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['elasticache:DescribeReplicationGroups'],
          resourceArns: [this.replicationGroupArn],
        }),
      );
  }
}
