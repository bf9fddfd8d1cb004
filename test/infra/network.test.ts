import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironmentConfig } from '../../lib/config/index.js';
import { synthesize } from '../support/synth.js';

type Resources = Record<string, { Properties: Record<string, unknown> }>;

describe.each(ENVIRONMENT_NAMES)('NetworkStack (%s)', (name) => {
  const config = loadEnvironmentConfig(name);
  const { network } = synthesize(name);

  it('spans the configured CIDR with one compute and one data subnet per availability zone', () => {
    network.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: config.network.cidr });
    const subnets = network.findResources('AWS::EC2::Subnet') as Resources;
    const azs = Object.values(subnets).map((s) => s.Properties.AvailabilityZone);

    expect(Object.keys(subnets)).toHaveLength(2 * config.availabilityZoneCount);
    expect(new Set(azs)).toEqual(new Set(['a', 'b', 'c'].map((l) => `${config.region}${l}`)));
  });

  it('has no route to the internet', () => {
    network.resourceCountIs('AWS::EC2::InternetGateway', 0);
    network.resourceCountIs('AWS::EC2::NatGateway', 0);
    for (const subnet of Object.values(network.findResources('AWS::EC2::Subnet') as Resources)) {
      expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
    }
  });

  it('records all traffic in flow logs kept for the configured retention', () => {
    network.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
    network.hasResourceProperties('AWS::Logs::LogGroup', {
      RetentionInDays: config.network.flowLogRetentionDays,
    });
  });

  it('reaches every AWS API the functions use through private interface endpoints', () => {
    const endpoints = network.findResources('AWS::EC2::VPCEndpoint', {
      Properties: { VpcEndpointType: 'Interface', PrivateDnsEnabled: true },
    }) as Resources;
    const services = Object.values(endpoints).map((e) => JSON.stringify(e.Properties.ServiceName));

    for (const service of [
      'rds-data',
      'secretsmanager',
      'kafka',
      'elasticache',
      'sqs',
      'sns',
      'kms',
      'sts',
      'states',
      'lambda',
      'monitoring',
    ]) {
      expect(services.some((s) => s.includes(`.${service}`))).toBe(true);
    }
  });

  it('opens the brokers, database and cache to the compute group only, on their own ports', () => {
    const ingress = (port: number) =>
      network.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        IpProtocol: 'tcp',
        FromPort: port,
        ToPort: port,
        SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ComputeSg'), 'GroupId'] },
      });
    ingress(9098);
    ingress(config.data.aurora.port);
    ingress(config.data.cache.port);
    ingress(443);
  });

  it('never allows all outbound traffic from a platform security group', () => {
    const groups = network.findResources('AWS::EC2::SecurityGroup') as Resources;
    for (const group of Object.values(groups)) {
      const egress = (group.Properties.SecurityGroupEgress ?? []) as Array<{ CidrIp?: string }>;
      expect(egress.filter((rule) => rule.CidrIp === '0.0.0.0/0' && !('FromPort' in rule))).toEqual([]);
      expect(group.Properties.SecurityGroupIngress ?? []).toEqual([]);
    }
  });
});
