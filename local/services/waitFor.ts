import { setTimeout } from 'node:timers/promises';
import { HarnessError } from './errors.js';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds. */
  readonly timeoutMs: number;
  /** Pause between attempts; 50 ms unless told. */
  readonly intervalMs?: number;
  /** Says what was awaited, for the timeout error. */
  readonly description: string;
  /** Adds context (e.g. a log tail) to the timeout error. */
  readonly output?: () => string | Promise<string>;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => setTimeout(ms);

/**
 * Polls `condition` until it returns true.
 * An error thrown by `condition` ends the wait at once and is passed on.
 * @throws {HarnessError} when the condition is still false after `timeoutMs`.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: WaitForOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 50;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) {
      const output = options.output ? await options.output() : '';
      throw new HarnessError(`Timed out after ${options.timeoutMs} ms waiting for ${options.description}`, {
        output,
      });
    }
    await sleep(intervalMs);
  }
}
