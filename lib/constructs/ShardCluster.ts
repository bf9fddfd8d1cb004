import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config/index.js';
import { acknowledge } from '../nag.js';
import { allowLogsToUseKey } from './allowLogsToUseKey.js';

/** The Aurora settings of one environment, as validated by the config schema. */
export type ShardClusterSettings = EnvironmentConfig['data']['aurora'];

export interface ShardClusterProps {
  /** Stable shard id published in the shard map, e.g. `shard-0`. Never reuse an id for other data. */
  readonly shardId: string;
  readonly settings: ShardClusterSettings;
  readonly vpc: ec2.IVpc;
  /** Where the instances live (the isolated data tier). */
  readonly subnets: ec2.SubnetSelection;
  /** The cluster's only security group: admits compute on the database port. */
  readonly securityGroup: ec2.ISecurityGroup;
  /**
   * Placement of the secret rotation function: it must reach the cluster and the Secrets Manager
   * and KMS endpoints, which is what the compute tier is allowed to do.
   */
  readonly rotation: { readonly subnets: ec2.SubnetSelection; readonly securityGroup: ec2.ISecurityGroup };
  /**
   * Zones in placement order: the writer goes in the first, reader `n` in zone `n`.
   * Rotate the list between shards to spread writers over the zones.
   *
   * @default - the stack's availability zones
   */
  readonly availabilityZones?: readonly string[];
  /**
   * The database created on the cluster, which the Data API addresses. @default SHARD_DATABASE_NAME
   */
  readonly databaseName?: string;
  /** Retention of the exported PostgreSQL log. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Physical cluster identifier; named so its log group can be created (encrypted, with retention)
   * before RDS would create one itself.
   *
   * @default - `<stack name>-<shard id>`, lower case
   */
  readonly clusterIdentifier?: string;
}

/** Admin user of every shard; applications use IAM or the Data API, never this login directly. */
const ADMIN_USER = 'cdp_admin';
/** Kept out of generated and rotated passwords alike: characters that break URLs, shells or JSON. */
const PASSWORD_EXCLUDED_CHARACTERS = ' %+~`#$&*()|[]{}:;<>?!\'/@"\\';
/** Database holding the customer profiles on every shard. */
export const SHARD_DATABASE_NAME = 'customers';
/** UTC windows: backups first, maintenance after, both away from the European business day. */
const BACKUP_WINDOW = '01:00-01:30';
const MAINTENANCE_WINDOW = 'sun:02:00-sun:03:00';
const CLUSTER_IDENTIFIER = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const DATA_API_ACTIONS = [
  'rds-data:BatchExecuteStatement',
  'rds-data:BeginTransaction',
  'rds-data:CommitTransaction',
  'rds-data:ExecuteStatement',
  'rds-data:RollbackTransaction',
];
const SECRET_READ_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'];

/**
 * One shard of the customer store: an Aurora PostgreSQL Serverless v2 cluster with a writer and
 * `readersPerShard` readers, each in its own availability zone. Data at rest, the admin secret, the
 * log and Performance Insights are encrypted with the shard's own customer-managed key; the admin
 * secret rotates on a schedule; the Data API is on so functions need no connection pool or password.
 */
export class ShardCluster extends Construct {
  public readonly shardId: string;
  public readonly databaseName: string;
  public readonly cluster: rds.DatabaseCluster;
  public readonly clusterArn: string;
  /** The generated admin credentials (JSON with username, password, host, port, dbname). */
  public readonly secret: secretsmanager.ISecret;
  public readonly encryptionKey: kms.IKey;
  public readonly logGroup: logs.ILogGroup;

  /**
   * @throws {Error} when fewer zones than instances are given (writer and readers must not share a
   * zone), or the cluster identifier is not a valid RDS identifier.
   */
  public constructor(scope: Construct, id: string, props: ShardClusterProps) {
    super(scope, id);
    const { settings, shardId } = props;
    const stack = Stack.of(this);
    this.shardId = shardId;
    this.databaseName = props.databaseName ?? SHARD_DATABASE_NAME;

    const zones = props.availabilityZones ?? stack.availabilityZones;
    const instanceCount = 1 + settings.readersPerShard;
    if (zones.length < instanceCount) {
      throw new Error(
        `${shardId}: ${instanceCount} instances need ${instanceCount} distinct zones, got ${zones.join(', ')}`,
      );
    }
    const clusterIdentifier = props.clusterIdentifier ?? `${stack.stackName}-${shardId}`.toLowerCase();
    if (clusterIdentifier.length > 63 || !CLUSTER_IDENTIFIER.test(clusterIdentifier)) {
      throw new Error(`${shardId}: "${clusterIdentifier}" is not a valid cluster identifier`);
    }
    const retain = settings.retainOnDelete;

    const key = new kms.Key(this, 'Key', {
      description: `Aurora storage, admin secret, logs and Performance Insights of ${clusterIdentifier}`,
      enableKeyRotation: true,
      // Snapshots stay readable only while their key exists, so the key outlives the cluster everywhere.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.encryptionKey = key;

    // RDS would create this group itself, unencrypted and kept forever; creating it first settles both.
    const logGroupName = `/aws/rds/cluster/${clusterIdentifier}/postgresql`;
    allowLogsToUseKey(key, logGroupName);
    const logGroup = new logs.LogGroup(this, 'PostgresqlLog', {
      logGroupName,
      retention: props.logRetention,
      encryptionKey: key,
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.logGroup = logGroup;

    const instance = (instanceId: string, zone: string | undefined): rds.IClusterInstance =>
      rds.ClusterInstance.serverlessV2(instanceId, {
        availabilityZone: zone,
        // Tiers 0-1 scale with the writer, so a failover lands on an instance already sized for the load.
        scaleWithWriter: true,
        autoMinorVersionUpgrade: true,
        enablePerformanceInsights: true,
        performanceInsightEncryptionKey: key,
        performanceInsightRetention: rds.PerformanceInsightRetention.DEFAULT,
        preferredMaintenanceWindow: MAINTENANCE_WINDOW,
      });
    const readers = Array.from({ length: settings.readersPerShard }, (_, i) =>
      instance(`Reader${i + 1}`, zones[i + 1]),
    );

    const [major] = settings.engineVersion.split('.');
    const cluster = new rds.DatabaseCluster(this, 'Cluster', {
      clusterIdentifier,
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.of(settings.engineVersion, major ?? settings.engineVersion),
      }),
      // Clients must use TLS; the Data API and the rotation function already do.
      parameters: { 'rds.force_ssl': '1' },
      writer: instance('Writer', zones[0]),
      readers,
      serverlessV2MinCapacity: settings.minCapacityAcu,
      serverlessV2MaxCapacity: settings.maxCapacityAcu,
      // One instance at a time, so a shard keeps serving while its instances are replaced or resized.
      instanceUpdateBehaviour: rds.InstanceUpdateBehaviour.ROLLING,
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [props.securityGroup],
      port: settings.port,
      defaultDatabaseName: this.databaseName,
      credentials: rds.Credentials.fromGeneratedSecret(ADMIN_USER, {
        encryptionKey: key,
        excludeCharacters: PASSWORD_EXCLUDED_CHARACTERS,
      }),
      iamAuthentication: true,
      enableDataApi: true,
      storageEncrypted: true,
      storageEncryptionKey: key,
      backup: { retention: Duration.days(settings.backupRetentionDays), preferredWindow: BACKUP_WINDOW },
      preferredMaintenanceWindow: MAINTENANCE_WINDOW,
      deletionProtection: settings.deletionProtection,
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.SNAPSHOT,
      deleteAutomatedBackups: !retain,
      copyTagsToSnapshot: true,
      cloudwatchLogsExports: ['postgresql'],
      monitoringInterval: Duration.seconds(60),
      autoMinorVersionUpgrade: true,
    });
    cluster.node.defaultChild?.node.addDependency(logGroup);
    this.cluster = cluster;
    this.clusterArn = cluster.clusterArn;

    // The L2 puts serverless v2 instances in tier 1 at best. Tier 0 makes the first reader the preferred
    // failover target, and the writer, once it comes back as a reader, the preferred one after that.
    setPromotionTier(cluster, 'Writer', 0);
    setPromotionTier(cluster, 'Reader1', 0);

    const secret = cluster.secret;
    if (secret === undefined) throw new Error(`${shardId}: the cluster has no generated secret`);
    // Without it a retained cluster could only be reached by resetting the admin password.
    if (retain) secret.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.secret = secret;

    // What cluster.addRotationSingleUser does, except for the target: the cluster's own connections carry
    // the port as a token, and the ingress rule it would add lands in the network stack (a reference
    // cycle). The literal port names the rule the network stack already holds, so nothing is added.
    new secretsmanager.SecretRotation(this, 'AdminRotation', {
      application: cluster.singleUserRotationApplication,
      secret,
      target: {
        connections: new ec2.Connections({
          securityGroups: [props.securityGroup],
          defaultPort: ec2.Port.tcp(settings.port),
        }),
      },
      automaticallyAfter: Duration.days(settings.secretRotationDays),
      excludeCharacters: PASSWORD_EXCLUDED_CHARACTERS,
      vpc: props.vpc,
      vpcSubnets: props.rotation.subnets,
      securityGroup: props.rotation.securityGroup,
    });

    this.acknowledgeFindings(settings);
  }

  /**
   * Lets `grantee` run SQL on this shard through the Data API (on the writer): the statement and
   * transaction actions on this cluster only, reading its secret, and decrypting that secret only
   * through Secrets Manager.
   *
   * Unlike `DatabaseCluster.grantDataApiAccess`, every permission goes on the grantee's own policy
   * (the key policy already delegates to IAM), so a grantee in another stack adds no reference from
   * this stack back to it, and no cycle between the two.
   */
  public grantDataApiAccess(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: DATA_API_ACTIONS, resourceArns: [this.clusterArn] })
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: SECRET_READ_ACTIONS,
          resourceArns: [this.secret.secretArn],
        }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['kms:Decrypt'],
          resourceArns: [this.encryptionKey.keyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
  }

  private acknowledgeFindings(settings: ShardClusterSettings): void {
    acknowledge(this.cluster, {
      id: 'CloudFormation-Validate::W3010',
      reason:
        'Zones are pinned on purpose: the writer and each reader must sit in a different zone of the ' +
        "environment's fixed zone list, which only explicit names guarantee.",
    });
    const monitoringRole = this.cluster.monitoringRole;
    if (monitoringRole !== undefined) {
      acknowledge(monitoringRole, {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
        reason:
          'Role assumed only by monitoring.rds.amazonaws.com; the AWS-maintained policy is the documented one for ' +
          'Enhanced Monitoring and only writes to the RDSOSMetrics log group.',
      });
    }
    if (!settings.deletionProtection) {
      acknowledge(this.cluster, {
        id: 'AwsSolutions-RDS10',
        reason:
          'Deletion protection is off by configuration in this non-production environment so it can be torn ' +
          'down; the cluster still takes a final snapshot on deletion. Production enforces protection in the ' +
          'config schema.',
      });
    }
  }
}

/**
 * Sets the promotion tier on the instance's L1, the only place a serverless v2 tier 0 can be set.
 *
 * @throws {Error} when the cluster has no such instance.
 */
function setPromotionTier(cluster: rds.DatabaseCluster, instanceId: string, tier: number): void {
  const instance = cluster.node.tryFindChild(instanceId)?.node.defaultChild;
  if (!(instance instanceof rds.CfnDBInstance)) {
    throw new Error(`${cluster.node.path} has no instance ${instanceId}`);
  }
  instance.promotionTier = tier;
}
