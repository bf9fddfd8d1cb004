import { RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { LagScaler } from '../constructs/LagScaler.js';
import type { ConsumerStack } from './ConsumerStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';

export interface ScalingStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly consumer: ConsumerStack;
}

/**
 * Scenario 6 (message volume spike): the consumer's lag scaler, apart from the consumer it scales so that
 * its alarms, signals rather than failures, neither roll a consumer deployment back nor page anyone.
 */
export class ScalingStack extends PlatformStack {
  public readonly lagScaler: LagScaler;

  public constructor(scope: Construct, id: string, props: ScalingStackProps) {
    super(scope, id, props);
    const { config } = this;
    const settings = config.consumer;
    this.lagScaler = new LagScaler(this, 'LagScaler', {
      namePrefix: `cdp-${config.name}`,
      mapping: props.consumer.eventSource,
      consumerFunctionName: props.consumer.consumer.function.functionName,
      topic: settings.topic,
      settings: { floor: settings.minimumPollers, ...settings.scaling },
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.network.flowLogRetentionDays,
      logRemovalPolicy: config.name === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
  }
}
