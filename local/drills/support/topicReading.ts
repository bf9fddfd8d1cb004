import type { Envelope } from '../../../lambdas/shared/events/index.js';
import { LOCAL_TOPIC } from '../../consumer/LocalConsumer.js';
import { LOCAL_SPILLOVER_TOPIC } from '../../ingest/index.js';
import type { LocalLog } from '../../log/index.js';
import type { LocalStream } from '../../stream/index.js';

/** Every event id on the topic per partition, in offset order, duplicates included. */
export async function topicEventIds(stream: LocalStream): Promise<string[][]> {
  const reader = stream.eventLog();
  const ends = await reader.endOffsets(LOCAL_TOPIC);
  const partitions: string[][] = [];
  for (const [partition, end] of ends.entries()) {
    const ids: string[] = [];
    if (end > 0) {
      await reader.read(LOCAL_TOPIC, { partition, fromOffset: 0, toOffset: end - 1 }, async (records) => {
        for (const record of records) {
          ids.push((JSON.parse(record.value?.toString('utf8') ?? '{}') as Envelope).eventId);
        }
      });
    }
    partitions.push(ids);
  }
  return partitions;
}

/** The spilled events in spill order (the spillover is one partition of the local log). */
export async function spilledEventIds(log: LocalLog): Promise<string[]> {
  const end = await log.endOffset(LOCAL_SPILLOVER_TOPIC, 0).catch(() => 0);
  const ids: string[] = [];
  for (let offset = 0; offset < end; offset += 5_000) {
    for (const record of await log.read(LOCAL_SPILLOVER_TOPIC, 0, offset, Math.min(5_000, end - offset))) {
      ids.push((JSON.parse(record.value?.toString('utf8') ?? '{}') as Envelope).eventId);
    }
  }
  return ids;
}

/**
 * Spilled events a partition holds out of spill order: the drainer republishes in spill order, so within
 * each partition the first copies of spilled events must follow it.
 */
export function outOfSpillOrder(partitions: readonly string[][], spilled: readonly string[]): number {
  // A spill whose write outlived its deadline and was retried holds its events twice: rank by the first.
  const rank = new Map<string, number>();
  spilled.forEach((id, index) => {
    if (!rank.has(id)) rank.set(id, index);
  });
  let disorder = 0;
  for (const ids of partitions) {
    const seen = new Set<string>();
    let last = -1;
    for (const id of ids) {
      const position = rank.get(id);
      if (position === undefined || seen.has(id)) continue;
      seen.add(id);
      if (position < last) disorder += 1;
      last = Math.max(last, position);
    }
  }
  return disorder;
}
