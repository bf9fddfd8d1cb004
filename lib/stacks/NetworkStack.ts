import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { acknowledge } from '../nag.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export type NetworkStackProps = PlatformStackProps;

/** The security groups of the platform, one per role, wired least-privilege in this stack. */
export interface PlatformSecurityGroups {
  /** Lambda functions (consumers, API handlers, custom resources, rotation). */
  readonly compute: ec2.ISecurityGroup;
  /** MSK brokers: reachable from compute on the IAM/TLS port only. */
  readonly brokers: ec2.ISecurityGroup;
  /** Aurora shard clusters: reachable from compute on the database port only. */
  readonly database: ec2.ISecurityGroup;
  /** ElastiCache replication group: reachable from compute on the cache port only. */
  readonly cache: ec2.ISecurityGroup;
  /** Interface VPC endpoints: HTTPS from compute only. */
  readonly endpoints: ec2.ISecurityGroup;
}

/** MSK's TLS listener with IAM client authentication. */
export const MSK_IAM_PORT = 9098;

/** AWS APIs the in-VPC functions call; reached privately so the data path never leaves the VPC. */
const INTERFACE_ENDPOINTS: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = {
  RdsData: ec2.InterfaceVpcEndpointAwsService.RDS_DATA,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  Kafka: ec2.InterfaceVpcEndpointAwsService.KAFKA,
  ElastiCache: ec2.InterfaceVpcEndpointAwsService.ELASTICACHE,
  Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  Sns: ec2.InterfaceVpcEndpointAwsService.SNS,
  Kms: ec2.InterfaceVpcEndpointAwsService.KMS,
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  Sts: ec2.InterfaceVpcEndpointAwsService.STS,
  CloudWatch: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
  StepFunctions: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
  XRay: ec2.InterfaceVpcEndpointAwsService.XRAY,
  // The lag scaler sets the consumer mapping's pollers; the pre-traffic hooks invoke new versions.
  Lambda: ec2.InterfaceVpcEndpointAwsService.LAMBDA,
  // Pre-traffic hooks report their verdict to CodeDeploy.
  CodeDeploy: ec2.InterfaceVpcEndpointAwsService.CODEDEPLOY,
};

/**
 * VPC across the environment's AZs with two isolated tiers, compute and data, and no route to the internet:
 * AWS APIs are reached through interface endpoints. Flow logs record all traffic; every role has its own
 * security group and each allowed path is opened in both directions' rules (ingress and egress) here.
 */
export class NetworkStack extends PlatformStack {
  public readonly vpc: ec2.IVpc;
  public readonly computeSubnets: ec2.SubnetSelection = { subnetGroupName: 'compute' };
  public readonly dataSubnets: ec2.SubnetSelection = { subnetGroupName: 'data' };
  public readonly securityGroups: PlatformSecurityGroups;

  public constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { config } = this;

    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(config.network.cidr),
      maxAzs: config.availabilityZoneCount,
      // No internet path at all: every AWS API the functions use is reached through an endpoint below.
      natGateways: 0,
      restrictDefaultSecurityGroup: true,
      subnetConfiguration: [
        { name: 'compute', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 20 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 },
      ],
    });
    this.vpc = vpc;
    acknowledge(vpc, {
      id: 'CloudFormation-Validate::W3010',
      reason:
        'Availability zones are named explicitly per environment (lib/config) so synthesis is offline and ' +
        'reviewable; a region change is a reviewed configuration change, not a lookup.',
    });

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: config.network.flowLogRetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    const sg = (id: string, description: string): ec2.SecurityGroup =>
      new ec2.SecurityGroup(this, id, { vpc, description, allowAllOutbound: false });
    const compute = sg('ComputeSg', 'Lambda functions of the platform');
    const brokers = sg('BrokerSg', 'MSK brokers');
    const database = sg('DatabaseSg', 'Aurora shard clusters');
    const cache = sg('CacheSg', 'ElastiCache secondary index');
    const endpoints = sg('EndpointSg', 'Interface VPC endpoints');

    const allow = (from: ec2.SecurityGroup, to: ec2.SecurityGroup, port: ec2.Port, what: string): void => {
      to.addIngressRule(from, port, `${what} from ${from.node.id}`);
      from.addEgressRule(to, port, `${what} to ${to.node.id}`);
    };
    allow(compute, brokers, ec2.Port.tcp(MSK_IAM_PORT), 'Kafka TLS/IAM');
    allow(compute, database, ec2.Port.tcp(config.data.aurora.port), 'PostgreSQL');
    allow(compute, cache, ec2.Port.tcp(config.data.cache.port), 'Redis TLS');
    allow(compute, endpoints, ec2.Port.tcp(443), 'HTTPS');
    // Brokers replicate among themselves; MSK needs the group to admit its own members.
    brokers.addIngressRule(brokers, ec2.Port.allTcp(), 'inter-broker replication');
    brokers.addEgressRule(brokers, ec2.Port.allTcp(), 'inter-broker replication');

    for (const [name, service] of Object.entries(INTERFACE_ENDPOINTS)) {
      vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        securityGroups: [endpoints],
        subnets: this.computeSubnets,
        open: false,
      });
    }

    this.securityGroups = { compute, brokers, database, cache, endpoints };
  }
}
