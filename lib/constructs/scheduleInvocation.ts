import type { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { LIVE_ALIAS } from './GuardedFunction.js';
import type { PlatformFunction } from './PlatformFunction.js';

export interface ScheduledInvocationProps {
  readonly interval: Duration;
  readonly description: string;
  /** The group the schedule belongs to; the default group when absent. */
  readonly scheduleGroup?: scheduler.IScheduleGroup;
}

/**
 * Invokes `fn` through a `live` alias (`<id>Alias`) on a fixed rate (schedule `<id>`, both in `scope`).
 * The scheduler's role may invoke that alias and nothing else. A run that fails is not retried, neither by
 * the scheduler nor by Lambda: the next one comes an interval later, and an invocation older than one
 * interval is dropped.
 */
export function scheduleInvocation(
  scope: Construct,
  id: string,
  fn: PlatformFunction,
  props: ScheduledInvocationProps,
): scheduler.Schedule {
  const alias = new lambda.Alias(scope, `${id}Alias`, {
    aliasName: LIVE_ALIAS,
    version: fn.function.currentVersion,
  });
  alias.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: props.interval });
  return new scheduler.Schedule(scope, id, {
    description: props.description,
    ...(props.scheduleGroup ? { scheduleGroup: props.scheduleGroup } : {}),
    schedule: scheduler.ScheduleExpression.rate(props.interval),
    target: new LambdaInvoke(alias, { retryAttempts: 0, maxEventAge: props.interval }),
  });
}
