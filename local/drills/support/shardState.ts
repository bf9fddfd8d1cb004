import { createClient } from '@redis/client';
import type { LocalDataServices } from '../../platform/LocalDataServices.js';
import type { ExpectedCustomer } from './expectedState.js';

export interface ShardSnapshot {
  readonly customers: Map<string, ExpectedCustomer>;
  readonly appliedEvents: number;
  readonly eventCountSum: number;
  readonly outbox: number;
}

/** Reads every shard: customer state, number of recorded events, and the pending index outbox. */
export async function snapshotShards(services: LocalDataServices): Promise<ShardSnapshot> {
  const customers = new Map<string, ExpectedCustomer>();
  let appliedEvents = 0;
  let eventCountSum = 0;
  let outbox = 0;
  for (const shard of services.shardMap.shards) {
    const client = services.shardClient(shard.id);
    try {
      const rows = await client.query<{ customer_id: string } & ExpectedCustomer>(
        'SELECT customer_id, email, phone, given_name, event_count::int AS event_count FROM customers',
      );
      for (const { customer_id, ...state } of rows.rows) {
        customers.set(customer_id, state);
        eventCountSum += state.event_count;
      }
      const counts = await client.query<{ applied: number; outbox: number }>(
        'SELECT (SELECT count(*)::int FROM applied_events) AS applied, (SELECT count(*)::int FROM index_outbox) AS outbox',
      );
      appliedEvents += counts.rows[0]?.applied ?? 0;
      outbox += counts.rows[0]?.outbox ?? 0;
    } finally {
      await client.close();
    }
  }
  return { customers, appliedEvents, eventCountSum, outbox };
}

/** Index entries that disagree with the shards (each should be empty after a repair). */
export async function indexMismatches(
  redisUrl: string,
  customers: Map<string, ExpectedCustomer>,
): Promise<string[]> {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  try {
    const problems: string[] = [];
    for (const [id, c] of customers) {
      if (c.email !== null && (await redis.get(`cdp:idx:email:${c.email}`)) !== id)
        problems.push(`email of ${id}`);
      if (c.phone !== null && (await redis.get(`cdp:idx:phone:${c.phone}`)) !== id)
        problems.push(`phone of ${id}`);
      const hash = await redis.hGetAll(`cdp:idx:customer:${id}`);
      if ((hash.email || null) !== c.email || (hash.phone || null) !== c.phone)
        problems.push(`entry of ${id}`);
    }
    return problems;
  } finally {
    redis.destroy();
  }
}
