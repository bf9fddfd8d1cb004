import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';

/**
 * Middy's early timeout is off: by default it throws its own `TimeoutError` 5 ms before the invocation's
 * deadline (at once for a context with no time left), where these functions run until Lambda ends them;
 * the handlers that watch the clock (the spillover drainer) do so themselves.
 */
const PLUGIN = { timeoutEarlyInMillis: 0 } as const;

/**
 * Wraps a handler in Middy, to which the handler module attaches Powertools' middlewares (`injectLambdaContext`,
 * `logMetrics`, `captureLambdaHandler`). The result is still called as `(event, context)`.
 */
export function lambdaHandler<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
): MiddyfiedHandler<TEvent, TResult> {
  return middy<TEvent, TResult>(handler, PLUGIN);
}
