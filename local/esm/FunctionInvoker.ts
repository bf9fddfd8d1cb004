import { randomUUID } from 'node:crypto';
import type { Context, MSKEvent } from 'aws-lambda';
import { type BulkheadPolicy, bulkhead } from 'cockatiel';
import { FunctionTimeoutError } from './errors.js';
import { createLambdaContext, type FunctionIdentity } from './lambdaContext.js';

/** The function under test: the real handler, called as Lambda calls it. */
export type MskHandler = (event: MSKEvent, context: Context) => Promise<unknown>;

export type Invocation =
  | { readonly kind: 'returned'; readonly requestId: string; readonly response: unknown }
  | { readonly kind: 'failed'; readonly requestId: string; readonly error: unknown };

type Settled =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

/**
 * Calls the handler like the Lambda runtime: a fresh request id and context per call, at most `concurrency`
 * calls at once, and a timeout after which the call counts as failed. A timed-out handler cannot be frozen
 * here as Lambda freezes its sandbox: it keeps running in the background and its result is ignored.
 */
export class FunctionInvoker {
  /** At most `concurrency` calls at once; the others wait their turn, in order, however many they are. */
  private readonly slots: BulkheadPolicy;

  public constructor(
    private readonly handler: MskHandler,
    private readonly identity: FunctionIdentity,
    private readonly timeoutMillis: number,
    concurrency: number,
  ) {
    this.slots = bulkhead(concurrency, Number.POSITIVE_INFINITY);
  }

  /** Invokes the handler once; never rejects (a failure is an outcome). */
  public invoke(event: MSKEvent): Promise<Invocation> {
    return this.slots.execute(() => this.invokeNow(event));
  }

  private async invokeNow(event: MSKEvent): Promise<Invocation> {
    const requestId = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    try {
      const context = createLambdaContext(this.identity, requestId, Date.now() + this.timeoutMillis);
      const settled: Promise<Settled> = Promise.resolve()
        .then(() => this.handler(event, context))
        .then(
          (value: unknown): Settled => ({ ok: true, value }),
          (error: unknown): Settled => ({ ok: false, error }),
        );
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.timeoutMillis);
      });
      const outcome = await Promise.race([settled, timedOut]);
      if (outcome === 'timeout') {
        return { kind: 'failed', requestId, error: new FunctionTimeoutError(requestId, this.timeoutMillis) };
      }
      return outcome.ok
        ? { kind: 'returned', requestId, response: outcome.value }
        : { kind: 'failed', requestId, error: outcome.error };
    } finally {
      clearTimeout(timer);
    }
  }
}
