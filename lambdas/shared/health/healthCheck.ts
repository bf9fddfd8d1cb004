import { healthCheckSettings } from '../resilience/defaults.js';
import { type ControlPlanePolicy, controlPlaneReadPolicy } from '../resilience/named.js';
import { ControlPlaneError, classifyControlPlaneError, isProgrammingError } from './errors.js';
import type { HealthCheckDependencies, HealthLogger, HealthMetrics } from './types.js';

/** What one check's control plane reads share: the read policy and the deadline of the whole check. */
export interface ControlPlaneReads<Client> {
  readonly policy: ControlPlanePolicy;
  readonly deadline: AbortSignal;
  readonly deps: HealthCheckDependencies<Client>;
}

/** Starts a check's reads: the policy from the settings, and the check budget counting from now. */
export function startReads<Client>(deps: HealthCheckDependencies<Client>): ControlPlaneReads<Client> {
  const settings = healthCheckSettings(deps.settings);
  return {
    policy: controlPlaneReadPolicy(settings),
    deadline: AbortSignal.timeout(settings.checkBudgetMillis),
    deps,
  };
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

/** One health check, as {@link runHealthCheck} runs it. */
export interface HealthCheck<Report extends { readonly healthy: boolean }> {
  /** What is checked, in the log messages (`MSK cluster`). */
  readonly subject: string;
  /** Logged when the control plane cannot be read. */
  readonly unreadableMessage: string;
  /** Reads the control plane and assesses what it says. */
  readonly read: () => Promise<Report>;
  /** The unhealthy report for a control plane that could not be read. */
  readonly unreadable: (error: ControlPlaneError) => Report;
  /** Publishes the report; `known` is false when the control plane could not be read. */
  readonly publish: (report: Report, metrics: HealthMetrics, known: boolean) => void;
}

/**
 * The skeleton every health check follows: read and assess; a control plane that cannot be read yields an
 * unhealthy report, because a check that throws tells nobody; log the outcome and publish it as metrics.
 *
 * @throws whatever `read` throws other than a {@link ControlPlaneError}: a misconfigured check, a bug.
 */
export async function runHealthCheck<Report extends { readonly healthy: boolean }>(
  deps: { readonly logger: HealthLogger; readonly metrics: HealthMetrics },
  check: HealthCheck<Report>,
): Promise<Report> {
  let report: Report;
  let known = true;
  try {
    report = await check.read();
  } catch (error: unknown) {
    if (!(error instanceof ControlPlaneError)) throw error;
    deps.logger.error(check.unreadableMessage, { error, context: error.context });
    known = false;
    report = check.unreadable(error);
  }

  if (report.healthy) deps.logger.info(`${check.subject} healthy`, { report });
  else deps.logger.warn(`${check.subject} unhealthy`, { report });
  check.publish(report, deps.metrics, known);
  return report;
}
