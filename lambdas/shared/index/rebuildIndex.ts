import type { SqlClient } from '../sql/index.js';
import type { CustomerIndex } from './CustomerIndex.js';
import { customerPage } from './customerRows.js';

export interface RebuildProgress {
  readonly complete: boolean;
  readonly written: number;
}

/**
 * One bounded step of rebuilding the index from the shards (the source of truth). Progress lives in
 * Redis itself: when Redis loses its data the cursors and the completion mark vanish with it and the
 * rebuild starts over by itself. `pageSize` customers per shard per step keeps the database load of a
 * rebuild bounded; callers step again until `complete`.
 *
 * @throws when Redis or a shard fails; the step is simply repeated later (writes are idempotent).
 */
export async function rebuildIndexStep(
  index: CustomerIndex,
  shards: ReadonlyMap<string, SqlClient>,
  pageSize: number,
): Promise<RebuildProgress> {
  if (await index.isComplete()) return { complete: true, written: 0 };
  let written = 0;
  let allDone = true;
  for (const [shardId, client] of shards) {
    const cursor = await index.rebuildCursor(shardId);
    if (cursor === 'done') continue;
    const page = await customerPage(client, cursor ?? '', pageSize);
    await index.update(page);
    written += page.length;
    const last = page.at(-1);
    const finished = page.length < pageSize || last === undefined;
    await index.setRebuildCursor(shardId, finished ? 'done' : last.customerId);
    if (!finished) allDone = false;
  }
  if (allDone) await index.markComplete();
  return { complete: allDone, written };
}
