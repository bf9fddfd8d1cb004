import type { Envelope } from '../../lambdas/shared/events/index.js';
import type { LocalLog } from '../log/index.js';

/**
 * Publishes envelopes to a topic of the local log as the producer does to MSK: key = customerId (so one
 * customer's events stay in one partition, in order), value = the JSON envelope.
 */
export async function publishToLog(
  log: LocalLog,
  topic: string,
  envelopes: readonly Envelope[],
  options: { chunk?: number; onProgress?: (published: number) => void } = {},
): Promise<void> {
  const chunk = options.chunk ?? 1_000;
  for (let i = 0; i < envelopes.length; i += chunk) {
    const slice = envelopes.slice(i, i + chunk);
    await log.append(
      topic,
      slice.map((e) => ({ key: e.customerId, value: JSON.stringify(e) })),
    );
    options.onProgress?.(Math.min(i + chunk, envelopes.length));
  }
}
