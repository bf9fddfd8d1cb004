import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/shared/contracts/index.js';
import { acknowledge } from '../nag.js';

/** Repository root: handlers live in `lambdas/<name>/handler.ts` below it. */
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The platform's Lambda runtime, pinned: upgrades are a deliberate, tested change, not a CDK default. */
export const PLATFORM_RUNTIME = lambda.Runtime.NODEJS_22_X;

export interface PlatformFunctionProps {
  /** Directory under `lambdas/` holding `handler.ts`; also the Powertools service name. */
  readonly name: string;
  /**
   * The export of `handler.ts` Lambda calls. A module exporting several steps (one function each, one
   * bundle) gives each function its own export here and its own construct id. @default 'handler'
   */
  readonly exportName?: string;
  readonly description?: string;
  /** A fixed function name, where something outside the stack relies on it (CodeDeploy hooks); CDK's otherwise. */
  readonly functionName?: string;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroups: readonly ec2.ISecurityGroup[];
  /** Retention of the function's log group, in days (a CloudWatch Logs retention value). */
  readonly logRetentionDays: number;
  /** What happens to the log group when the function is deleted. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Customer-managed key for the log group. @default - CloudWatch Logs' own encryption */
  readonly logEncryptionKey?: kms.IKey;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default - unreserved, draws on the account's pool */
  readonly reservedConcurrentExecutions?: number;
  /** Added to the platform's defaults; may not override them. */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Bundle the AWS SDK instead of using the runtime's copy, so the deployed code runs the SDK versions
   * the tests ran. @default true
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * Actions this function may hold on Resource "*" besides X-Ray's, each with the reason the service
   * offers no resource-level permission for it. Any other wildcard grant fails synthesis. @default none
   */
  readonly wildcardResourceActions?: readonly WildcardResourceAction[];
}

export interface WildcardResourceAction {
  readonly action: string;
  readonly reason: string;
}

/**
 * A Node.js Lambda function as the platform runs them: TypeScript bundled locally by esbuild (no Docker),
 * nodejs22.x on arm64, inside the VPC, its own log group with a fixed retention, X-Ray tracing, source
 * maps, and the Powertools service name set. It is an `IGrantable`, so construct grants apply to it.
 */
export class PlatformFunction extends Construct implements iam.IGrantable {
  public readonly function: nodejs.NodejsFunction;
  public readonly logGroup: logs.LogGroup;
  public readonly grantPrincipal: iam.IPrincipal;

  public constructor(scope: Construct, id: string, props: PlatformFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      ...(props.logEncryptionKey === undefined ? {} : { encryptionKey: props.logEncryptionKey }),
    });

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, 'lambdas', props.name, 'handler.ts'),
      handler: props.exportName ?? 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      ...(props.description === undefined ? {} : { description: props.description }),
      ...(props.functionName === undefined ? {} : { functionName: props.functionName }),
      runtime: PLATFORM_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [...props.securityGroups],
      allowPublicSubnet: false,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        ...props.environment,
        [ENV.powertoolsServiceName]: props.name,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.CJS,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle sizes are reported only when something is wrong; synth output stays readable.
        logLevel: nodejs.LogLevel.ERROR,
        externalModules: props.bundleAwsSdk === false ? ['@aws-sdk/*'] : [],
      },
    });
    this.grantPrincipal = this.function.grantPrincipal;

    acknowledge(
      this.function,
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'AWS-maintained policy limited to creating log streams and writing log events; the function writes ' +
          'only to its own log group',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'AWS-maintained policy with the ENI create/describe/delete actions Lambda needs to attach the ' +
          'function to the VPC; EC2 does not support resource-level scoping for them',
      },
      {
        id: 'AwsSolutions-L1',
        reason:
          'The runtime is pinned to nodejs22.x by platform decision: runtime upgrades are rolled out ' +
          'deliberately across all functions after testing, not implicitly by a CDK upgrade',
      },
    );
    const defaultPolicy = this.function.role?.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy instanceof iam.Policy) {
      const extra = props.wildcardResourceActions ?? [];
      acknowledge(defaultPolicy, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: [
          'X-Ray active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no ' +
            'resource-level permissions',
          ...extra.map(({ action, reason }) => `${action}: ${reason}`),
          'synthesis fails if any other action of this role is granted on Resource "*"',
        ].join('; '),
      });
      // Keeps the acknowledgement above true as grants are added to the role later.
      const allowed = new Set([...TRACING_ACTIONS, ...extra.map(({ action }) => action)]);
      this.node.addValidation({ validate: () => unexpectedWildcardGrants(defaultPolicy, allowed) });
    }
  }
}

const TRACING_ACTIONS: ReadonlySet<string> = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);

interface ResolvedStatement {
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

/** Actions of `policy` granted on Resource "*" that are not `allowed`, as validation errors. */
function unexpectedWildcardGrants(policy: iam.Policy, allowed: ReadonlySet<string>): string[] {
  const document = Stack.of(policy).resolve(policy.document) as
    | { Statement?: ResolvedStatement[] }
    | undefined;
  return (document?.Statement ?? [])
    .filter((statement) => [statement.Resource].flat().includes('*'))
    .flatMap((statement) => [statement.Action ?? []].flat().filter((action) => !allowed.has(action)))
    .map(
      (action) =>
        `${policy.node.path}: ${action} on Resource "*": grant it on specific resources, or list it in ` +
        'wildcardResourceActions with the reason the service allows nothing narrower',
    );
}
