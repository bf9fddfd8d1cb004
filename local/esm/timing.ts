import { setTimeout } from 'node:timers/promises';
import { halfJitterGenerator } from 'cockatiel';
import type { RetryBackoff } from './emulatorSettings.js';

/**
 * Jittered exponential backoff, cockatiel's half jitter: attempt 1 waits between half of `initialMillis`
 * and `initialMillis`, the ceiling doubling with each attempt up to `maxMillis`.
 */
export function backoffMillis(backoff: RetryBackoff, attempt: number): number {
  const [millis] = halfJitterGenerator(Math.max(0, attempt - 1), {
    generator: halfJitterGenerator,
    initialDelay: backoff.initialMillis,
    maxDelay: backoff.maxMillis,
    exponent: 2,
  });
  return millis;
}

/** Waits `millis`, or less when `signal` aborts first; never rejects. */
export const sleep = (millis: number, signal?: AbortSignal): Promise<void> =>
  // The timer rejects only when `signal` aborts, which ends the wait early.
  setTimeout(millis, undefined, { signal }).catch(() => undefined);
