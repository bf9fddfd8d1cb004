import {
  ExponentialBackoff,
  handleWhen,
  type ICancellationContext,
  type IPolicy,
  type IRetryContext,
  retry,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { classifyControlPlaneError, isProgrammingError, isRetriable } from './errors.js';

/**
 * The numbers of the control-plane reads of the health checks, in one place. Tests pass smaller ones.
 *
 * The handlers build their SDK clients with `maxAttempts: 1`, so this policy is the only retry layer and
 * `checkBudgetMillis` really bounds a check: 3 attempts of at most 3 s plus backoff per call, and every
 * call of one check shares the budget. The function timeout must exceed the budget, so that a check whose
 * control plane hangs still reports itself unhealthy instead of dying silently.
 */
export const HEALTH_CHECK_DEFAULTS = {
  /** One attempt of one read; the request is aborted when it is reached. */
  attemptTimeoutMillis: 3_000,
  /** Repetitions after the first attempt, for throttling, server faults, socket errors and timeouts. */
  retries: 2,
  /** Jittered exponential backoff between attempts. */
  retryInitialDelayMillis: 200,
  retryMaxDelayMillis: 1_000,
  /** All reads of one check together; past it, the check reports the control plane unreachable. */
  checkBudgetMillis: 20_000,
} as const;

export type HealthCheckSettings = { -readonly [K in keyof typeof HEALTH_CHECK_DEFAULTS]: number };

export const healthCheckSettings = (overrides: Partial<HealthCheckSettings> = {}): HealthCheckSettings => ({
  ...HEALTH_CHECK_DEFAULTS,
  ...overrides,
});

/** Runs one read; the context carries the attempt's abort signal, to be passed to the SDK. */
export type ControlPlanePolicy = IPolicy<IRetryContext & ICancellationContext>;

/**
 * Idempotent control-plane reads: a timeout per attempt inside jittered exponential retries. No circuit
 * breaker: a check runs a handful of reads once per schedule tick, and each tick must report.
 */
export function controlPlaneReadPolicy(settings: HealthCheckSettings): ControlPlanePolicy {
  return wrap(
    retry(handleWhen(isRetriable), {
      maxAttempts: settings.retries,
      backoff: new ExponentialBackoff({
        initialDelay: settings.retryInitialDelayMillis,
        maxDelay: settings.retryMaxDelayMillis,
      }),
    }),
    timeout(settings.attemptTimeoutMillis, TimeoutStrategy.Aggressive),
  );
}

/**
 * Runs one control-plane read through `policy`, under the check's `deadline`.
 *
 * @throws {TypeError|RangeError} unchanged: a bug in the check.
 * @throws {HealthCheckError} every other failure, classified (see `classifyControlPlaneError`).
 */
export async function readControlPlane<T>(
  policy: ControlPlanePolicy,
  request: { readonly operation: string; readonly resource: string; readonly deadline: AbortSignal },
  read: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const classify = (error: unknown): unknown =>
    isProgrammingError(error) ? error : classifyControlPlaneError(error, request.operation, request.resource);
  try {
    return await policy.execute(async ({ signal }) => {
      try {
        return await read(signal);
      } catch (error: unknown) {
        // Classified inside the policy, so that the retry sees which failures are worth another attempt.
        throw classify(error);
      }
    }, request.deadline);
  } catch (error: unknown) {
    // Timeouts surface here, raised by the policy itself after the last attempt.
    throw classify(error);
  }
}
