import { setTimeout } from 'node:timers/promises';
import type { RetryBackoff } from './emulatorSettings.js';

/** Jittered exponential backoff: attempt 1 waits about `initialMillis`, doubling up to `maxMillis`. */
export function backoffMillis(backoff: RetryBackoff, attempt: number): number {
  const ceiling = Math.min(backoff.maxMillis, backoff.initialMillis * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Waits `millis`, or less when `signal` aborts first; never rejects. */
export const sleep = (millis: number, signal?: AbortSignal): Promise<void> =>
  // The timer rejects only when `signal` aborts, which ends the wait early.
  setTimeout(millis, undefined, { signal }).catch(() => undefined);
