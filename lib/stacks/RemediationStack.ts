import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { EventRedrive } from '../constructs/EventRedrive.js';
import { LagScaler } from '../constructs/LagScaler.js';
import { removalPolicyOf } from '../constructs/removalPolicyOf.js';
import type { ConsumerStack } from './ConsumerStack.js';
import type { PlatformSecurityGroups } from './NetworkStack.js';
import { PlatformStack, type PlatformStackProps } from './PlatformStack.js';
import type { StreamingStack } from './StreamingStack.js';

export interface RemediationStackProps extends PlatformStackProps {
  readonly vpc: ec2.IVpc;
  readonly computeSubnets: ec2.SubnetSelection;
  readonly securityGroups: PlatformSecurityGroups;
  readonly streaming: StreamingStack;
  readonly consumer: ConsumerStack;
}

/**
 * Responses to failures that act on the consumer from outside it: the lag scaler (scenario 6, a volume
 * spike; its alarms are signals, not failures, so they neither roll a consumer deployment back nor page
 * anyone) and the event redrive (scenario 7, after a bad version was rolled back).
 */
export class RemediationStack extends PlatformStack {
  public readonly lagScaler: LagScaler;
  public readonly redrive: EventRedrive;

  public constructor(scope: Construct, id: string, props: RemediationStackProps) {
    super(scope, id, props);
    const { config } = this;
    const settings = config.consumer;
    const placement = {
      vpc: props.vpc,
      subnets: props.computeSubnets,
      securityGroups: [props.securityGroups.compute],
      logRetentionDays: config.retention.logRetentionDays,
      logRemovalPolicy: removalPolicyOf(config.retention),
    };
    this.redrive = new EventRedrive(this, 'EventRedrive', {
      ...placement,
      cluster: props.streaming.cluster,
      failureQueue: props.consumer.failureQueue,
      topic: settings.topic,
      retryTopic: settings.retryTopic,
    });
    this.lagScaler = new LagScaler(this, 'LagScaler', {
      namePrefix: `cdp-${config.name}`,
      mapping: props.consumer.eventSource,
      consumerFunctionName: props.consumer.consumer.function.functionName,
      clusterName: props.streaming.cluster.clusterName,
      consumerGroup: settings.consumerGroup,
      topic: settings.topic,
      settings: { floor: settings.minimumPollers, ...settings.scaling },
      ...placement,
    });
  }
}
