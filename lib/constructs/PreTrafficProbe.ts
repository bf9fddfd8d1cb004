import { type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import { acknowledge } from '../nag.js';
import type { GuardedFunction } from './GuardedFunction.js';
import { PlatformFunction, type PlatformFunctionProps } from './PlatformFunction.js';

export interface PreTrafficProbeProps
  extends Pick<
    PlatformFunctionProps,
    'vpc' | 'subnets' | 'securityGroups' | 'logRetentionDays' | 'logRemovalPolicy'
  > {
  /** The guarded function whose deployments the probe checks. */
  readonly guarded: GuardedFunction;
  /** The probe's function under `lambdas/`, e.g. `consumer-probe`. */
  readonly code: string;
  /** What the hook probes, in its name: `CodeDeployHook_<prefix>-<name>`. */
  readonly name: string;
  /** `cdp-<env>`: the hook's function name is `CodeDeployHook_<prefix>-<name>`. */
  readonly namePrefix: string;
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * Scenario 7 (a deployment introduces a bug): CodeDeploy's BeforeAllowTraffic hook of a guarded function.
 * It invokes the version being deployed with a synthetic check before any traffic reaches it and reports
 * Succeeded or Failed; a failure stops the deployment and rolls it back. Named `CodeDeployHook_*`, the only
 * functions CodeDeploy's managed Lambda role may invoke; it may invoke the new version and report on its own
 * deployment group, nothing else of either service.
 */
export class PreTrafficProbe extends Construct {
  public readonly function: PlatformFunction;

  public constructor(scope: Construct, id: string, props: PreTrafficProbeProps) {
    super(scope, id);
    const { guarded } = props;
    this.function = new PlatformFunction(this, 'Hook', {
      name: props.code,
      functionName: `CodeDeployHook_${props.namePrefix}-${props.name}`,
      description: `Pre-traffic probe of ${guarded.function.node.path}: checks a new version before traffic shifts`,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroups: props.securityGroups,
      logRetentionDays: props.logRetentionDays,
      ...(props.logRemovalPolicy === undefined ? {} : { logRemovalPolicy: props.logRemovalPolicy }),
      timeout: Duration.minutes(2),
      environment: { ...props.environment, [ENV.targetVersionArn]: guarded.version.functionArn },
    });
    guarded.version.grantInvoke(this.function);
    this.function.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['codedeploy:PutLifecycleEventHookExecutionStatus'],
        resources: [guarded.deploymentGroup.deploymentGroupArn],
      }),
    );
    guarded.deploymentGroup.addPreHook(this.function.function);
    acknowledge(guarded.deploymentGroup.role, {
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.function.function.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason:
        'Granted by LambdaDeploymentGroup.addPreHook: CodeDeploy invokes the hook function by any qualifier; ' +
        'the wildcard covers the versions and aliases of this one hook function, nothing else',
    });
  }
}
