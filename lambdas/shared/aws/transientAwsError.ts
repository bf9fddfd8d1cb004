import { RETRIABLE_NODE_CODES } from '../sql/retriableCodes.js';

/** AWS error names of throttling, which the SDK models as client faults but which pass with time. */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown',
  'ServiceUnavailableException',
]);

/** The SDK's own timeout and abort errors, raised when a socket hangs or an attempt's signal fires. */
const TIMEOUTS = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException']);

const MIN_SERVER_STATUS = 500;

/** A string property of an unknown value, if it has one. */
export const stringProperty = (value: unknown, key: string): string | undefined => {
  if (typeof value !== 'object' || value === null || !(key in value)) return undefined;
  const property: unknown = Reflect.get(value, key);
  return typeof property === 'string' ? property : undefined;
};

/** The HTTP status the SDK recorded for a failed call, if any. */
export const httpStatusOf = (value: unknown): number | undefined => {
  if (typeof value !== 'object' || value === null || !('$metadata' in value)) return undefined;
  const { $metadata } = value;
  if (typeof $metadata !== 'object' || $metadata === null || !('httpStatusCode' in $metadata))
    return undefined;
  return typeof $metadata.httpStatusCode === 'number' ? $metadata.httpStatusCode : undefined;
};

/**
 * Whether an AWS SDK call failed in a way that passes with time: throttling, a server fault (5xx), a
 * socket error or a timeout. Shared by every control-plane caller so they all retry the same failures.
 *
 * A type guard over any client's errors: throttling comes as an unmodelled service error named after its
 * code, and the HTTP handler's timeouts as plain errors named `TimeoutError`; no class is exported for
 * them, so their name (or Node's `code`, or the fault and HTTP status the SDK records) is what tells them.
 */
export function isTransientAwsError(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return false;
  const name = stringProperty(error, 'name');
  const code = stringProperty(error, 'code');
  const status = httpStatusOf(error);
  return (
    (name !== undefined && (THROTTLING.has(name) || TIMEOUTS.has(name))) ||
    (code !== undefined && RETRIABLE_NODE_CODES.has(code)) ||
    stringProperty(error, '$fault') === 'server' ||
    (status !== undefined && status >= MIN_SERVER_STATUS)
  );
}
