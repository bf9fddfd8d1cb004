import { ReplicationGroupNotFoundFault } from '@aws-sdk/client-elasticache';
import { NotFoundException } from '@aws-sdk/client-kafka';
import { TaskCancelledError } from 'cockatiel';
import { isTransientAwsError, stringProperty } from '../aws/transientAwsError.js';
import {
  type ErrorContext,
  isProgrammingError,
  PlatformError,
  type PlatformErrorOptions,
} from '../errors.js';

/** Context attached to every health-check error, logged as structured fields. */
export type HealthCheckErrorContext = ErrorContext;

export type HealthCheckErrorOptions = PlatformErrorOptions;

/**
 * Base of the errors raised while checking the health of a dependency. `retriable` tells whether the same
 * request may succeed if repeated.
 */
export class HealthCheckError extends PlatformError {
  public override readonly name: string = 'HealthCheckError';
}

/**
 * The check itself is broken: a missing or invalid setting, a denied permission, a malformed request.
 * Thrown, never reported as an unhealthy dependency, because it says nothing about the dependency.
 */
export class HealthCheckConfigError extends HealthCheckError {
  public override readonly name = 'HealthCheckConfigError';

  public constructor(message: string, options: Omit<HealthCheckErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: false });
  }
}

/**
 * Why a control-plane read failed: the API could not be reached in time (throttled, 5xx, network,
 * timeout), or it answered that the resource does not exist.
 */
export type ControlPlaneFailure = 'unreachable' | 'not-found';

/** A control-plane read failed in a way that is reported as an unhealthy dependency. */
export class ControlPlaneError extends HealthCheckError {
  public override readonly name = 'ControlPlaneError';

  public constructor(
    message: string,
    public readonly operation: string,
    public readonly failure: ControlPlaneFailure,
    options: Omit<HealthCheckErrorOptions, 'context'> & { readonly resource: string },
  ) {
    super(message, { ...options, context: { operation, failure, resource: options.resource } });
  }
}

/**
 * The resource the check watches (an MSK cluster, an ElastiCache replication group) is gone: a finding
 * about the dependency, not about the check.
 */
const isResourceGone = (error: unknown): boolean =>
  error instanceof NotFoundException || error instanceof ReplicationGroupNotFoundFault;

const messageOf = (value: unknown): string => (value instanceof Error ? value.message : String(value));

export { isProgrammingError };

/**
 * Classifies an error thrown by an AWS control-plane read (or by the policy around it).
 *
 * - throttling, server faults, socket errors and timeouts: `ControlPlaneError('unreachable')`, retriable;
 * - the resource does not exist: `ControlPlaneError('not-found')`, not retriable;
 * - any other client fault (access denied, bad request, invalid parameter): `HealthCheckConfigError`;
 * - anything else unknown: `ControlPlaneError('unreachable')`, not retriable.
 *
 * Programming errors must be filtered out with {@link isProgrammingError} before calling this.
 */
export function classifyControlPlaneError(
  error: unknown,
  operation: string,
  resource: string,
): HealthCheckError {
  if (error instanceof HealthCheckError) return error;
  const name = stringProperty(error, 'name');
  const reason = `${operation} on ${resource} failed: ${messageOf(error)}`;
  const unreachable = (retriable: boolean): ControlPlaneError =>
    new ControlPlaneError(reason, operation, 'unreachable', { cause: error, retriable, resource });

  if (error instanceof TaskCancelledError) {
    return new ControlPlaneError(`${operation} on ${resource} timed out`, operation, 'unreachable', {
      cause: error,
      retriable: true,
      resource,
    });
  }
  if (isResourceGone(error)) {
    return new ControlPlaneError(reason, operation, 'not-found', {
      cause: error,
      retriable: false,
      resource,
    });
  }
  if (isTransientAwsError(error)) return unreachable(true);
  if (stringProperty(error, '$fault') === 'client') {
    return new HealthCheckConfigError(reason, {
      cause: error,
      context: { operation, resource, error: name },
    });
  }
  return unreachable(false);
}
