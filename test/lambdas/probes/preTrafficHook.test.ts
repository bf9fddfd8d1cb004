import { CodeDeployClient, PutLifecycleEventHookExecutionStatusCommand } from '@aws-sdk/client-codedeploy';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { runConsumerProbe } from '../../../lambdas/shared/probes/consumerProbe.js';
import { reportProbe, versionInvoker } from '../../../lambdas/shared/probes/preTrafficHook.js';
import { parseShardMap, ShardRouter } from '../../../lambdas/shared/sharding/index.js';

const lambda = mockClient(LambdaClient);
const codedeploy = mockClient(CodeDeployClient);
const VERSION = 'arn:aws:lambda:eu-west-1:111111111111:function:cdp-dev-consumer:42';
const HOOK = { DeploymentId: 'd-ABC', LifecycleEventHookExecutionId: 'hook-1' };
/** A Lambda response payload as the SDK hands it over. */
const payload = (text: string) =>
  Object.assign(new Uint8Array(Buffer.from(text)), { transformToString: () => text });
const shardMap = parseShardMap({ version: 1, shards: [{ id: 'shard-0' }, { id: 'shard-1' }] });

afterEach(() => {
  lambda.reset();
  codedeploy.reset();
});

/** The probe as the hook runs it, against a version whose writes land in `stored`. */
const probeWith = (stored: Map<string, string>, transform = (name: string) => name) =>
  runConsumerProbe({
    invoke: async (event) => {
      for (const records of Object.values(event.records)) {
        for (const record of records) {
          const envelope = JSON.parse(Buffer.from(record.value ?? '', 'base64').toString());
          stored.set(envelope.customerId, transform(envelope.payload.givenName));
        }
      }
      return versionInvoker(new LambdaClient({}), VERSION)(event);
    },
    readGivenName: async (_shard, customerId) => stored.get(customerId) ?? null,
    router: new ShardRouter(shardMap),
    shardIds: ['shard-0', 'shard-1'],
    topic: 'customer-events.v1',
    eventSourceArn: 'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/x',
  });

describe('the consumer pre-traffic hook (aws-sdk-client-mock)', () => {
  it('invokes the new version synchronously and lets traffic shift when every shard reads back the probe', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload('{"batchItemFailures":[]}') });
    codedeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
    // Act
    const report = await reportProbe(new CodeDeployClient({}), HOOK, () => probeWith(new Map()));
    // Assess
    expect(report).toEqual({ passed: true, problems: [] });
    expect(lambda.commandCalls(InvokeCommand)[0]?.args[0].input).toMatchObject({
      FunctionName: VERSION,
      InvocationType: 'RequestResponse',
    });
    expect(codedeploy.commandCalls(PutLifecycleEventHookExecutionStatusCommand)[0]?.args[0].input).toEqual({
      deploymentId: 'd-ABC',
      lifecycleEventHookExecutionId: 'hook-1',
      status: 'Succeeded',
    });
  });

  it('fails the deployment on a function error, a partial batch response, or a value that did not arrive', async () => {
    codedeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
    const statuses = () =>
      codedeploy.commandCalls(PutLifecycleEventHookExecutionStatusCommand).map((c) => c.args[0].input.status);

    lambda
      .on(InvokeCommand)
      .resolves({ FunctionError: 'Unhandled', Payload: payload('{"errorType":"TypeError"}') });
    const threw = await reportProbe(new CodeDeployClient({}), HOOK, () => probeWith(new Map()));
    lambda.on(InvokeCommand).resolves({
      Payload: payload(
        '{"batchItemFailures":[{"itemIdentifier":{"partition":"customer-events.v1-0","offset":0}}]}',
      ),
    });
    const partial = await reportProbe(new CodeDeployClient({}), HOOK, () => probeWith(new Map()));
    lambda.on(InvokeCommand).resolves({ Payload: payload('{}') });
    const wrong = await reportProbe(new CodeDeployClient({}), HOOK, () =>
      probeWith(new Map(), (n) => n.toUpperCase()),
    );

    expect(threw.problems[0]).toMatch(/Unhandled.*TypeError/);
    expect(partial.problems[0]).toMatch(/reported 1 probe record/);
    expect(wrong.problems).toHaveLength(2);
    expect(statuses()).toEqual(['Failed', 'Failed', 'Failed']);
  });

  it('fails the deployment when the probe cannot run at all', async () => {
    codedeploy.on(PutLifecycleEventHookExecutionStatusCommand).resolves({});
    const report = await reportProbe(new CodeDeployClient({}), HOOK, async () => {
      throw new Error('Data API unreachable');
    });
    expect(report.passed).toBe(false);
    expect(
      codedeploy.commandCalls(PutLifecycleEventHookExecutionStatusCommand)[0]?.args[0].input.status,
    ).toBe('Failed');
  });
});
