import {
  type CodeDeployClient,
  type LifecycleEventStatus,
  PutLifecycleEventHookExecutionStatusCommand,
} from '@aws-sdk/client-codedeploy';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { MSKEvent } from 'aws-lambda';
import { PlatformError } from '../errors.js';
import type { ProbeReport } from './consumerProbe.js';

/** What CodeDeploy sends a BeforeAllowTraffic hook. */
export interface LifecycleHookEvent {
  readonly DeploymentId: string;
  readonly LifecycleEventHookExecutionId: string;
}

/** The version under test answered with a function error: its payload is the error. */
export class ProbedVersionError extends PlatformError {
  public override readonly name = 'ProbedVersionError';
}

/**
 * Invokes one version of a function synchronously, as the hook must: a function error becomes an
 * exception carrying the version's error payload.
 * @throws {ProbedVersionError} when the version failed the invocation.
 */
export function versionInvoker<Event = MSKEvent>(lambda: Pick<LambdaClient, 'send'>, versionArn: string) {
  return async (event: Event): Promise<unknown> => {
    const answer = await lambda.send(
      new InvokeCommand({
        FunctionName: versionArn,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
    const payload = answer.Payload === undefined ? '' : Buffer.from(answer.Payload).toString('utf8');
    if (answer.FunctionError !== undefined)
      throw new ProbedVersionError(`${answer.FunctionError}: ${payload}`);
    return payload === '' ? undefined : JSON.parse(payload);
  };
}

/**
 * Runs the probe and tells CodeDeploy its verdict: Succeeded lets traffic shift to the new version,
 * Failed stops the deployment and rolls it back. A probe that cannot run at all is a failure too.
 */
export async function reportProbe(
  codedeploy: Pick<CodeDeployClient, 'send'>,
  event: LifecycleHookEvent,
  probe: () => Promise<ProbeReport>,
): Promise<ProbeReport> {
  let report: ProbeReport;
  try {
    report = await probe();
  } catch (error: unknown) {
    report = { passed: false, problems: [`the probe could not run: ${String(error)}`] };
  }
  const status: LifecycleEventStatus = report.passed ? 'Succeeded' : 'Failed';
  await codedeploy.send(
    new PutLifecycleEventHookExecutionStatusCommand({
      deploymentId: event.DeploymentId,
      lifecycleEventHookExecutionId: event.LifecycleEventHookExecutionId,
      status,
    }),
  );
  return report;
}
