import { describe, expect, it } from 'vitest';
import { readEnvironment as readApiProbe } from '../../lambdas/api-probe/environment.js';
import { readConsumerEnvironment } from '../../lambdas/consumer/environment.js';
import { readEnvironment as readConsumerProbe } from '../../lambdas/consumer-probe/environment.js';
import { readEnvironment as readRedrive } from '../../lambdas/event-redrive/environment.js';
import { readEnvironment as readReplay } from '../../lambdas/event-replay/environment.js';
import { readIngestEnvironment } from '../../lambdas/ingest/environment.js';
import { readQueryEnvironment } from '../../lambdas/query/environment.js';
import { readEnvironment as readReconciliation } from '../../lambdas/reconciliation/environment.js';
import { EnvironmentError } from '../../lambdas/shared/environment/index.js';
import { readDrainerEnvironment } from '../../lambdas/spillover-drainer/environment.js';

type Env = Record<string, string | undefined>;

const REDIS: Env = {
  REDIS_HOST: 'master.cdp-prod-index.abc.euw1.cache.amazonaws.com',
  REDIS_PORT: '6379',
  REDIS_AUTH_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:cdp-prod-redis-AbCdEf',
};
const CLUSTER_ARN = 'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-prod/0a1b2c3d-4e5f';
const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/111111111111/cdp-prod-queue';
const SHARD_MAP = JSON.stringify({ version: 1, shards: [{ id: 'shard-0', url: 'postgres://127.0.0.1/x' }] });
const VERSION_ARN = 'arn:aws:lambda:eu-west-1:111111111111:function:cdp-prod-ingest:7';

/** Each function's reader and a complete, valid environment as its stack sets it. */
const FUNCTIONS: ReadonlyArray<readonly [string, (env: Env) => unknown, Env]> = [
  [
    'ingest',
    readIngestEnvironment,
    {
      TOPIC: 'customer-events.v1',
      CLUSTER_ARN,
      SPILLOVER_QUEUE_URL: `${QUEUE}.fifo`,
      SPILLOVER_MAX_DEPTH: '100000',
      ...REDIS,
    },
  ],
  [
    'spillover-drainer',
    readDrainerEnvironment,
    { TOPIC: 'customer-events.v1', CLUSTER_ARN, SPILLOVER_QUEUE_URL: QUEUE },
  ],
  [
    'consumer',
    readConsumerEnvironment,
    { SHARD_MAP, DLQ_QUEUE_URL: QUEUE, CLUSTER_ARN, RETRY_TOPIC: 'customer-events.v1.retry', ...REDIS },
  ],
  ['query', readQueryEnvironment, { SHARD_MAP, ...REDIS }],
  [
    'reconciliation',
    readReconciliation,
    {
      SHARD_MAP,
      CLUSTER_ARN,
      TOPIC: 'customer-events.v1',
      RETRY_TOPIC: 'customer-events.v1.retry',
      ...REDIS,
    },
  ],
  [
    'event-replay',
    readReplay,
    { CLUSTER_ARN, TOPIC: 'customer-events.v1', RETRY_TOPIC: 'customer-events.v1.retry' },
  ],
  [
    'event-redrive',
    readRedrive,
    {
      FAILURE_QUEUE_URL: QUEUE,
      CLUSTER_ARN,
      TOPIC: 'customer-events.v1',
      RETRY_TOPIC: 'customer-events.v1.retry',
    },
  ],
  [
    'consumer-probe',
    readConsumerProbe,
    { SHARD_MAP, TARGET_VERSION_ARN: VERSION_ARN, TOPIC: 'customer-events.v1', CLUSTER_ARN },
  ],
  ['api-probe', readApiProbe, { PROBED_API: 'ingest', TARGET_VERSION_ARN: VERSION_ARN }],
];

/** The error `read` throws for `env`, or undefined when it accepts it. */
function errorOf(read: (env: Env) => unknown, env: Env): EnvironmentError | undefined {
  try {
    read(env);
    return undefined;
  } catch (error: unknown) {
    if (error instanceof EnvironmentError) return error;
    throw error;
  }
}

describe('function environments', () => {
  it.each(FUNCTIONS)('%s accepts the environment its stack sets', (_, read, env) => {
    expect(errorOf(read, env)).toBeUndefined();
  });

  it.each(
    FUNCTIONS.flatMap(([name, read, env]) =>
      Object.keys(env).map((variable) => [name, variable, read, env] as const),
    ),
  )('%s fails at cold start naming %s when it is missing', (_, variable, read, env) => {
    const error = errorOf(read, { ...env, [variable]: undefined });

    expect(error).toBeInstanceOf(EnvironmentError);
    expect(error?.variables).toEqual([variable]);
    expect(error?.message).toContain(`${variable} is required`);
  });

  it.each([['abc'], ['NaN'], [''], ['-5'], ['1e3'], ['0']])(
    'refuses a spillover bound of %j instead of disabling the bound',
    (bound) => {
      const [, read, env] = FUNCTIONS[0] ?? [];
      if (read === undefined || env === undefined) throw new Error('no ingest entry');

      const error = errorOf(read, { ...env, SPILLOVER_MAX_DEPTH: bound });

      expect(error?.variables).toEqual(['SPILLOVER_MAX_DEPTH']);
      expect(error?.message).toMatch(
        /SPILLOVER_MAX_DEPTH (is required|must be a whole number of at least 1)/,
      );
    },
  );

  it('reads the spillover bound as a number', () => {
    const [, , env] = FUNCTIONS[0] ?? [];
    expect(readIngestEnvironment({ ...env, SPILLOVER_MAX_DEPTH: '2500' }).spilloverMaxDepth).toBe(2_500);
  });

  it('names every malformed variable at once', () => {
    const [, , env] = FUNCTIONS[2] ?? [];

    const error = errorOf(readConsumerEnvironment, {
      ...env,
      SHARD_MAP: '{not json',
      REDIS_PORT: '70000',
      CLUSTER_ARN: 'cdp-prod',
      DLQ_QUEUE_URL: 'queue',
    });

    expect([...(error?.variables ?? [])].sort()).toEqual([
      'CLUSTER_ARN',
      'DLQ_QUEUE_URL',
      'REDIS_PORT',
      'SHARD_MAP',
    ]);
    expect(error?.message).toContain('SHARD_MAP must be JSON');
    expect(error?.message).toContain('REDIS_PORT must be a port (1-65535)');
  });

  it('refuses an unknown probed API', () => {
    const error = errorOf(readApiProbe, { PROBED_API: 'admin', TARGET_VERSION_ARN: VERSION_ARN });
    expect(error?.message).toContain('PROBED_API must be ingest or query');
  });

  it.each([readIngestEnvironment, readDrainerEnvironment])(
    'takes the producer settings the stack sets, and leaves the defaults where none is set (%#)',
    (read) => {
      const env = (FUNCTIONS.find(([, r]) => r === read) ?? [])[2] ?? {};
      const producer = (e: Env) => (read(e) as { producer: unknown }).producer;

      expect(
        producer({ ...env, PRODUCER_COMPRESSION: 'none', PRODUCER_MAX_RECORDS_PER_REQUEST: '250' }),
      ).toEqual({ compression: 'none', maxRecordsPerRequest: 250 });
      expect(producer(env)).toEqual({});
    },
  );

  it.each([
    ['PRODUCER_COMPRESSION', 'snappy'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', '0'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', 'many'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', '2.5'],
    ['PRODUCER_MAX_RECORDS_PER_REQUEST', ''],
  ])('fails at cold start naming %s when it is %j', (variable, value) => {
    const [, read, env] = FUNCTIONS[0] ?? [];
    if (read === undefined || env === undefined) throw new Error('no ingest entry');

    const error = errorOf(read, { ...env, [variable]: value });

    expect(error?.variables).toEqual([variable]);
  });
});
