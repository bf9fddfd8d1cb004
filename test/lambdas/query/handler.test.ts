import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiEvent } from '../../support/httpApi.js';

const VARIABLES = ['SHARD_MAP', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_AUTH_SECRET_ARN'] as const;

const context: Context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'query',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:query',
  memoryLimitInMB: '256',
  awsRequestId: 'request-1',
  logGroupName: '/aws/lambda/query',
  logStreamName: 'stream',
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

const event = apiEvent({ method: 'GET', path: '/v1/customers/cust-1' });

describe('query function handler', () => {
  beforeEach(() => {
    for (const name of VARIABLES) vi.stubEnv(name, undefined);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  });

  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('answers 500 without details, and wires again on the next request, when its configuration is missing', async () => {
    const { handler } = await import('../../../lambdas/query/handler.js');

    const first = await handler(event, context);
    const second = await handler(event, context);

    for (const response of [first, second]) {
      expect(response).toMatchObject({ statusCode: 500 });
      expect(typeof response === 'object' ? response.body : response).toBe(
        JSON.stringify({ error: 'internal', message: 'The request could not be processed.' }),
      );
    }
  });
});
