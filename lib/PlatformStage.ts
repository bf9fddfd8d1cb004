import { Stage, type StageProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from './config/index.js';
import { ConsumerStack } from './stacks/ConsumerStack.js';
import { DataStack } from './stacks/DataStack.js';
import { NetworkStack } from './stacks/NetworkStack.js';
import { StreamingStack } from './stacks/StreamingStack.js';

export interface PlatformStageProps extends StageProps {
  readonly config: EnvironmentConfig;
}

/**
 * One environment of the platform. Stacks are split by lifecycle: the network and the stateful tiers
 * (streaming, data) change rarely and are protected; compute stacks, added on top, deploy often.
 */
export class PlatformStage extends Stage {
  public readonly network: NetworkStack;
  public readonly streaming: StreamingStack;
  public readonly data: DataStack;
  public readonly consumer: ConsumerStack;

  public constructor(scope: Construct, id: string, props: PlatformStageProps) {
    const { config } = props;
    super(scope, id, { ...props, env: { account: config.account, region: config.region } });
    Tags.of(this).add('platform', 'customer-data-platform');
    Tags.of(this).add('environment', config.name);

    const prefix = `cdp-${config.name}`;
    this.network = new NetworkStack(this, 'Network', {
      config,
      stackName: `${prefix}-network`,
      description: `Customer data platform (${config.name}): VPC, endpoints, security groups`,
    });
    const placement = {
      vpc: this.network.vpc,
      dataSubnets: this.network.dataSubnets,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
    };
    this.streaming = new StreamingStack(this, 'Streaming', {
      config,
      ...placement,
      stackName: `${prefix}-streaming`,
      description: `Customer data platform (${config.name}): MSK cluster and topics`,
      terminationProtection: config.name === 'prod',
    });
    this.data = new DataStack(this, 'Data', {
      config,
      ...placement,
      stackName: `${prefix}-data`,
      description: `Customer data platform (${config.name}): Aurora shard clusters, shard map, Redis index`,
      terminationProtection: config.name === 'prod',
    });
    // Stateless compute: rebuilt from code, so never termination protected.
    this.consumer = new ConsumerStack(this, 'Consumer', {
      config,
      vpc: this.network.vpc,
      computeSubnets: this.network.computeSubnets,
      securityGroups: this.network.securityGroups,
      streaming: this.streaming,
      data: this.data,
      stackName: `${prefix}-consumer`,
      description: `Customer data platform (${config.name}): customer event consumer and shard schema migrations`,
    });
  }
}
