/** Context attached to an error, logged as structured fields (never sent to API callers). */
export type ErrorContext = Readonly<Record<string, unknown>>;

export interface PlatformErrorOptions {
  readonly cause?: unknown;
  readonly context?: ErrorContext;
  /** Whether repeating the same request may succeed; a subclass may fix it instead. */
  readonly retriable?: boolean;
}

/**
 * Base of every error this platform raises. `retriable` tells a caller whether the same request may
 * succeed if repeated, `context` carries structured fields for the log, `cause` the error underneath.
 *
 * `name` defaults to the class name. Subclasses whose name is a contract (a state machine's `Retry` and
 * `Catch`, a Lambda `errorType`) still declare it as a literal, because the deployed bundles are minified
 * and class names do not survive that.
 */
export class PlatformError extends Error {
  public override readonly name: string;
  public readonly retriable: boolean;
  public readonly context: ErrorContext;

  public constructor(message: string, options: PlatformErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }
}

export const isPlatformError = (error: unknown): error is PlatformError => error instanceof PlatformError;

/** `TypeError` and `RangeError` are bugs in this code: never retried, never reported as a finding. */
export const isProgrammingError = (error: unknown): boolean =>
  error instanceof TypeError || error instanceof RangeError;

/**
 * Whether repeating the failed call may succeed. Programming errors never are; otherwise the error's own
 * `retriable` flag decides (this platform's errors and kafkajs's both carry one, other libraries' do not).
 */
export const isRetriable = (error: unknown): boolean =>
  !isProgrammingError(error) &&
  typeof error === 'object' &&
  error !== null &&
  'retriable' in error &&
  error.retriable === true;

/** The error and every `cause` it links to, the error itself first; a cycle ends the walk. */
export function* causesOf(error: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  let current = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}
