import { type ErrorContext, PlatformError, type PlatformErrorOptions } from '../../lambdas/shared/errors.js';

/** Context attached to every local API Gateway error, logged as structured fields. */
export type ApiGatewayErrorContext = ErrorContext;

export type ApiGatewayErrorOptions = PlatformErrorOptions;

/** Base of the errors raised by the local API Gateway. `retriable` says whether the same call may succeed later. */
export class ApiGatewayError extends PlatformError {
  public override readonly name: string = 'ApiGatewayError';
}

/** A route key API Gateway would reject: malformed, or the same as another route's. */
export class InvalidRouteError extends ApiGatewayError {
  public override readonly name = 'InvalidRouteError';

  public constructor(routeKey: string, reason: string) {
    super(`Invalid route key "${routeKey}": ${reason}`, { context: { routeKey } });
  }
}

/** A server option outside what API Gateway allows, such as a timeout above its 30 s maximum. */
export class InvalidGatewayOptionError extends ApiGatewayError {
  public override readonly name = 'InvalidGatewayOptionError';

  public constructor(option: string, value: unknown, expectation: string) {
    super(`Invalid API Gateway option "${option}" (${String(value)}): ${expectation}`, {
      context: { option, value },
    });
  }
}

/**
 * The server could not listen. Retriable: the usual cause is another socket holding the port for a moment.
 */
export class GatewayListenError extends ApiGatewayError {
  public override readonly name = 'GatewayListenError';

  public constructor(
    public readonly host: string,
    public readonly port: number,
    cause: unknown,
  ) {
    super(`Local API Gateway could not listen on ${host}:${port}`, {
      cause,
      context: { host, port },
      retriable: true,
    });
  }
}

/**
 * The function returned something API Gateway cannot turn into a response (a status outside 100-599, a
 * header it cannot send, a value that is not JSON). API Gateway answers 500; this says why.
 */
export class MalformedIntegrationResponseError extends ApiGatewayError {
  public override readonly name = 'MalformedIntegrationResponseError';

  public constructor(reason: string, options: { readonly cause?: unknown } = {}) {
    super(`Malformed Lambda proxy response: ${reason}`, { ...options, context: { reason } });
  }
}

/** The handler did not settle within the function timeout; Lambda reports it as a function error. */
export class FunctionTimeoutError extends ApiGatewayError {
  public override readonly name = 'FunctionTimeoutError';

  public constructor(
    public readonly awsRequestId: string,
    public readonly timeoutMillis: number,
  ) {
    super(`${awsRequestId} Task timed out after ${(timeoutMillis / 1000).toFixed(2)} seconds`, {
      context: { awsRequestId, timeoutMillis },
      retriable: true,
    });
  }
}
