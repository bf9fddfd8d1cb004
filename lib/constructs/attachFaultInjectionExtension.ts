import { ArnFormat, Stack, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { FAULT_CONFIGURATION_PREFIX, FAULT_TARGET_TAG, type FaultTarget } from '../gameDays.js';
import { acknowledge } from '../nag.js';
import type { PlatformFunction } from './PlatformFunction.js';

/**
 * AWS's public parameter holding the ARN of the latest 1.x FIS Lambda extension layer for arm64 (the
 * platform's functions run on arm64), in whichever region the stack deploys to. Resolved by CloudFormation
 * at deploy time, so synthesis stays offline and every region gets its own layer.
 */
export const FIS_EXTENSION_LAYER_PARAMETER =
  '/aws/service/fis/lambda-extension/AWS-FIS-extension-arm64/1.x.x';

/** The extension runs the function's runtime through its own bootstrap. */
export const FIS_EXEC_WRAPPER = '/opt/aws-fis/bootstrap';

export interface FaultInjectionExtensionProps {
  /** The environment's FIS configuration bucket (`faultConfigurationBucketName`). */
  readonly configurationBucketName: string;
  /** What the experiments select this function as (the `cdp:fault-target` tag). */
  readonly target: FaultTarget;
}

/**
 * Makes `fn` a target of the `aws:lambda:invocation-*` FIS actions: attaches the FIS extension layer, points
 * it at the configuration location (`AWS_FIS_CONFIGURATION_LOCATION`) through the documented exec wrapper,
 * lets the function read exactly that prefix of exactly that bucket in this account, and tags the function
 * so experiment templates select it. Call it only where game days are enabled: without a running experiment
 * the extension finds no fault and the function runs as before, but it still polls the bucket.
 */
export function attachFaultInjectionExtension(
  fn: PlatformFunction,
  props: FaultInjectionExtensionProps,
): void {
  const stack = Stack.of(fn);
  const bucket = props.configurationBucketName;
  const layerArn = ssm.StringParameter.valueForStringParameter(stack, FIS_EXTENSION_LAYER_PARAMETER);
  fn.function.addLayers(lambda.LayerVersion.fromLayerVersionArn(fn, 'FisExtension', layerArn));
  fn.function.addEnvironment('AWS_LAMBDA_EXEC_WRAPPER', FIS_EXEC_WRAPPER);
  fn.function.addEnvironment(
    'AWS_FIS_CONFIGURATION_LOCATION',
    `arn:${stack.partition}:s3:::${bucket}/${FAULT_CONFIGURATION_PREFIX}`,
  );

  const bucketArn = stack.formatArn({
    service: 's3',
    region: '',
    account: '',
    resource: bucket,
    arnFormat: ArnFormat.NO_RESOURCE_NAME,
  });
  // The bucket is named, not referenced: a bucket of that name in another account must never be read.
  const ownAccount = { StringEquals: { 's3:ResourceAccount': stack.account } };
  fn.function.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ListFaultConfigurations',
      actions: ['s3:ListBucket'],
      resources: [bucketArn],
      conditions: { ...ownAccount, StringLike: { 's3:prefix': [`${FAULT_CONFIGURATION_PREFIX}*`] } },
    }),
  );
  fn.function.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ReadFaultConfigurations',
      actions: ['s3:GetObject'],
      resources: [`${bucketArn}/${FAULT_CONFIGURATION_PREFIX}*`],
      conditions: ownAccount,
    }),
  );
  acknowledge(fn.function, {
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket}/${FAULT_CONFIGURATION_PREFIX}*]`,
    reason:
      'The FIS Lambda extension reads the fault settings FIS writes under one prefix of the environment ' +
      'configuration bucket, with object keys FIS chooses per experiment; the grant is read-only, on that ' +
      'prefix only, and only while the bucket belongs to this account',
  });
  Tags.of(fn.function).add(FAULT_TARGET_TAG, props.target, {
    includeResourceTypes: ['AWS::Lambda::Function'],
  });
}
