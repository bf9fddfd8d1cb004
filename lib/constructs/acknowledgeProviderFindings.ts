import { Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Provider } from 'aws-cdk-lib/custom-resources';
import { acknowledge } from '../nag.js';
import type { PlatformFunction } from './PlatformFunction.js';

/**
 * The findings the CDK Provider framework's own function always raises, acknowledged narrowly: its
 * AWS-maintained logging policy, and invoke rights on exactly one handler function (and its versions).
 */
export function acknowledgeProviderFindings(
  provider: Provider,
  handler: PlatformFunction,
  handlerRole: string,
): void {
  const frameworkFunction = provider.node.findChild('framework-onEvent');
  const handlerFunction = handler.function.node.defaultChild as lambda.CfnFunction;
  const logicalId = Stack.of(provider).getLogicalId(handlerFunction);
  acknowledge(
    frameworkFunction,
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'CDK Provider framework function: the AWS-maintained policy only lets it write its own logs',
    },
    {
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason:
        `CDK Provider framework grants lambda:InvokeFunction on the ${handlerRole} function and its ` +
        'versions (the :* suffix); it can invoke nothing else',
    },
  );
}
