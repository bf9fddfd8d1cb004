import { randomBytes } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** The function the emulator invokes, as its Lambda context describes it. */
export interface FunctionIdentity {
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryLimitInMB: number;
}

/**
 * The `Context` Lambda passes with each invocation. `getRemainingTimeInMillis` counts down to the function
 * timeout, so handlers that budget their work against it behave as in AWS.
 */
export function createLambdaContext(
  identity: FunctionIdentity,
  awsRequestId: string,
  deadline: number,
): Context {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const ignore = (): void => undefined;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: identity.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: identity.functionArn,
    memoryLimitInMB: String(identity.memoryLimitInMB),
    awsRequestId,
    logGroupName: `/aws/lambda/${identity.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: ignore,
    fail: ignore,
    succeed: ignore,
  };
}

/**
 * The ARN of a function in the event source's account and region
 * (`arn:aws:kafka:<region>:<account>:...` → `arn:aws:lambda:<region>:<account>:function:<name>`).
 */
export function functionArnFor(eventSourceArn: string, functionName: string): string {
  const [, partition = 'aws', , region = 'eu-west-1', account = '111111111111'] = eventSourceArn.split(':');
  return `arn:${partition}:lambda:${region}:${account}:function:${functionName}`;
}
