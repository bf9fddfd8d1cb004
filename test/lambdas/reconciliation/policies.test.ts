import { ErrorReply } from '@redis/client';
import { describe, expect, it } from 'vitest';
import {
  IndexUnavailableError,
  ReconciliationStepError,
} from '../../../lambdas/shared/reconciliation/errors.js';
import { indexPolicy } from '../../../lambdas/shared/reconciliation/stepPolicy.js';
import { isTransientRedisError } from '../../../lambdas/shared/redis/transientRedisError.js';
import { reconciliationSettings } from '../../../lambdas/shared/resilience/defaults.js';

const FAST = reconciliationSettings({
  attemptTimeoutMillis: 200,
  retries: 2,
  retryInitialDelayMillis: 1,
  retryMaxDelayMillis: 2,
});

describe('Redis error classification', () => {
  it.each([
    "READONLY You can't write against a read only replica.",
    'LOADING Redis is loading the dataset in memory',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    'CLUSTERDOWN The cluster is down',
  ])('takes the failover reply %j for transient', (message) => {
    expect(isTransientRedisError(new ErrorReply(message))).toBe(true);
  });

  it.each([
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    'NOSCRIPT No matching script. Please use EVAL.',
    "ERR unknown command 'FOO'",
    'READONLYX not a failover reply',
  ])('takes the reply %j for permanent', (message) => {
    expect(isTransientRedisError(new ErrorReply(message))).toBe(false);
  });

  it('takes connection failures for transient and programming errors for permanent', () => {
    expect(isTransientRedisError(new Error('Socket closed unexpectedly'))).toBe(true);
    expect(isTransientRedisError(new TypeError('x is not a function'))).toBe(false);
    expect(isTransientRedisError('not an error')).toBe(false);
  });
});

describe('index policy', () => {
  it('retries through a failover and answers once the new primary does', async () => {
    let calls = 0;
    const work = async () => {
      calls += 1;
      if (calls < 3) throw new ErrorReply("READONLY You can't write against a read only replica.");
      return 1;
    };

    await expect(indexPolicy(FAST).execute(work)).resolves.toBe(1);
    expect(calls).toBe(3);
  });

  it('surfaces a failover that outlasts the retries as IndexUnavailableError, which the workflow retries', async () => {
    const work = async () => {
      throw new ErrorReply('LOADING Redis is loading the dataset in memory');
    };

    await expect(indexPolicy(FAST).execute(work)).rejects.toBeInstanceOf(IndexUnavailableError);
  });

  it('does not repeat a command Redis rejects', async () => {
    let calls = 0;
    const work = async () => {
      calls += 1;
      throw new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value');
    };

    await expect(indexPolicy(FAST).execute(work)).rejects.toBeInstanceOf(ReconciliationStepError);
    expect(calls).toBe(1);
  });
});
