import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../../lambdas/shared/errors.js';

/** Context attached to every fault proxy error, logged as structured fields. */
export type FaultProxyErrorContext = ErrorContext;

export type FaultProxyErrorOptions = PlatformErrorOptions;

/** Base of the errors raised by the fault proxy. `retriable` says whether the same call may succeed later. */
export class FaultProxyError extends PlatformError {
  public override readonly name: string = 'FaultProxyError';
}

/** A fault or option was given a value the proxy cannot apply, such as a negative delay. */
export class InvalidFaultOptionError extends FaultProxyError {
  public override readonly name = 'InvalidFaultOptionError';

  public constructor(option: string, value: unknown, expectation: string) {
    super(`Invalid fault proxy option "${option}" (${String(value)}): ${expectation}`, {
      context: { option, value },
    });
  }
}

/**
 * The proxy could not listen on its port. Retriable: the usual cause is another socket holding the port for a
 * moment, for instance a process that grabbed it while the proxy was refusing connections.
 */
export class ProxyListenError extends FaultProxyError {
  public override readonly name = 'ProxyListenError';

  public constructor(
    public readonly host: string,
    public readonly port: number,
    cause: unknown,
  ) {
    super(`Fault proxy could not listen on ${host}:${port}`, {
      cause,
      context: { host, port },
      retriable: true,
    });
  }
}

/** Narrows a caught value to a Node.js system error that carries an errno `code` such as `EADDRINUSE`. */
export function isErrnoException(value: unknown): value is NodeJS.ErrnoException {
  return value instanceof Error && 'code' in value && typeof value.code === 'string';
}
