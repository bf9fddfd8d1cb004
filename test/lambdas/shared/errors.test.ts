import { describe, expect, it } from 'vitest';
import { ShardUnavailableError as ConsumerShardUnavailableError } from '../../../lambdas/shared/consumer/errors.js';
import { isPlatformError, isRetriable, PlatformError } from '../../../lambdas/shared/errors.js';
import { EtlStartError, EtlTransientError, EtlValidationError } from '../../../lambdas/shared/etl/errors.js';
import { ControlPlaneError } from '../../../lambdas/shared/health/errors.js';
import { TopicOperationError } from '../../../lambdas/shared/kafka/errors.js';
import { ShardMigrationFailedError } from '../../../lambdas/shared/migrations/resourceErrors.js';
import { OverloadedError } from '../../../lambdas/shared/query/errors.js';
import { IndexUnavailableError } from '../../../lambdas/shared/reconciliation/errors.js';
import { EventLogRequestError } from '../../../lambdas/shared/replay/errors.js';
import { SqlError } from '../../../lambdas/shared/sql/errors.js';

class ExampleError extends PlatformError {}

describe('PlatformError', () => {
  it('takes its name from the class, and keeps cause and context', () => {
    const cause = new Error('underneath');

    const error = new ExampleError('went wrong', { cause, context: { shard: 'shard-1' } });

    expect(error.name).toBe('ExampleError');
    expect(error.message).toBe('went wrong');
    expect(error.cause).toBe(cause);
    expect(error.context).toEqual({ shard: 'shard-1' });
    expect(error.retriable).toBe(false);
    expect(error).toBeInstanceOf(Error);
  });

  it('sets no cause when none is given', () => {
    const error = new ExampleError('went wrong', { retriable: true });

    expect('cause' in error).toBe(false);
    expect(error.context).toEqual({});
    expect(error.retriable).toBe(true);
  });

  it('is the base of every area error, which keeps the name the workflows match on', () => {
    const errors = [
      new EtlTransientError('shard lost'),
      new EtlValidationError('counts differ'),
      new IndexUnavailableError('redis away'),
      new EventLogRequestError('unknown topic'),
      new OverloadedError('full', 2),
      new ConsumerShardUnavailableError('shard-1'),
      new SqlError('refused', false, { client: 'pg', code: '23505' }),
      new ControlPlaneError('gone', 'describe', 'not-found', { resource: 'cluster' }),
    ];

    expect(errors.every(isPlatformError)).toBe(true);
    expect(errors.map((e) => e.name)).toEqual([
      'EtlTransientError',
      'EtlValidationError',
      'IndexUnavailableError',
      'EventLogRequestError',
      'OverloadedError',
      'ShardUnavailableError',
      'SqlError',
      'ControlPlaneError',
    ]);
  });
});

describe('isRetriable', () => {
  it.each([
    ['a retriable platform error', new EtlTransientError('shard lost'), true],
    ['a permanent platform error', new EtlValidationError('counts differ'), false],
    ['a start error that says it is retriable', new EtlStartError('throttled', { retriable: true }), true],
    [
      'a library error that carries the flag',
      Object.assign(new Error('leader moved'), { retriable: true }),
      true,
    ],
    ['a plain error', new Error('boom'), false],
    ['a string', 'boom', false],
    ['undefined', undefined, false],
  ])('classifies %s', (_label, error, expected) => {
    expect(isRetriable(error)).toBe(expected);
  });

  it('never retries a programming error, whatever it carries', () => {
    expect(isRetriable(Object.assign(new TypeError('x is undefined'), { retriable: true }))).toBe(false);
    expect(isRetriable(Object.assign(new RangeError('too far'), { retriable: true }))).toBe(false);
  });

  it('lets area errors built on a cause inherit whether it is retriable', () => {
    const transient = Object.assign(new Error('connection reset'), { retriable: true });

    expect(new TopicOperationError('describe', ['events'], { cause: transient }).retriable).toBe(true);
    expect(new TopicOperationError('describe', ['events'], { cause: new Error('denied') }).retriable).toBe(
      false,
    );
    expect(new ShardMigrationFailedError([{ shard: 'shard-1', cause: transient }]).retriable).toBe(true);
    expect(
      new ShardMigrationFailedError([
        { shard: 'shard-1', cause: transient },
        { shard: 'shard-2', cause: new Error('syntax') },
      ]).retriable,
    ).toBe(false);
  });
});
