import { Stage, type StageProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from './config/index.js';
import { NetworkStack } from './stacks/NetworkStack.js';

export interface PlatformStageProps extends StageProps {
  readonly config: EnvironmentConfig;
}

/**
 * One environment of the platform. Stacks are split by lifecycle: the network and the stateful data
 * tier change rarely and are protected; compute stacks (added on top) deploy often.
 */
export class PlatformStage extends Stage {
  public readonly network: NetworkStack;

  public constructor(scope: Construct, id: string, props: PlatformStageProps) {
    const { config } = props;
    super(scope, id, { ...props, env: { account: config.account, region: config.region } });
    Tags.of(this).add('platform', 'customer-data-platform');
    Tags.of(this).add('environment', config.name);

    this.network = new NetworkStack(this, 'Network', {
      config,
      stackName: `cdp-${config.name}-network`,
      description: `Customer data platform (${config.name}): VPC, endpoints, security groups`,
    });
  }
}
