import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { availabilityZonesOf, type EnvironmentConfig } from '../config/index.js';

export interface PlatformStackProps extends StackProps {
  readonly config: EnvironmentConfig;
}

/**
 * Base of every stack of the platform: pins the environment and names its availability zones
 * explicitly, so `cdk synth` never performs a context lookup and works offline.
 */
export abstract class PlatformStack extends Stack {
  protected readonly config: EnvironmentConfig;
  private readonly zones: string[];

  protected constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id, { ...props, env: { account: props.config.account, region: props.config.region } });
    this.config = props.config;
    this.zones = availabilityZonesOf(props.config);
  }

  public override get availabilityZones(): string[] {
    return this.zones;
  }
}
