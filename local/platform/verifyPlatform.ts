import { createClient } from '@redis/client';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import { LOCAL_DLQ_TOPIC } from '../consumer/LocalConsumer.js';
import type { LocalStream } from '../stream/index.js';
import type { LocalDataServices } from './LocalDataServices.js';

export interface VerificationReport {
  readonly ok: boolean;
  readonly lines: string[];
}

/**
 * Checks a local run against what was published: one recorded effect per event, every customer on
 * exactly one shard, the Redis index agreeing with the shards, poison records in the dead-letter topic.
 */
export async function verifyPlatform(
  services: LocalDataServices,
  stream: LocalStream,
  published: readonly Envelope[],
): Promise<VerificationReport> {
  const lines: string[] = [];
  let ok = true;
  const check = (passed: boolean, line: string) => {
    ok &&= passed;
    lines.push(`${passed ? 'ok  ' : 'FAIL'} ${line}`);
  };

  const perShard: string[] = [];
  let customers = 0;
  let applied = 0;
  let outbox = 0;
  const indexed: Array<{ id: string; email: string | null }> = [];
  for (const shard of services.shardMap.shards) {
    const client = services.shardClient(shard.id);
    try {
      const counts = await client.query<{ customers: number; applied: number; outbox: number }>(
        `SELECT (SELECT count(*)::int FROM customers) AS customers,
                (SELECT count(*)::int FROM applied_events) AS applied,
                (SELECT count(*)::int FROM index_outbox) AS outbox`,
      );
      const row = counts.rows[0];
      customers += row?.customers ?? 0;
      applied += row?.applied ?? 0;
      outbox += row?.outbox ?? 0;
      perShard.push(`${shard.id}: ${row?.customers ?? 0}`);
      const emails = await client.query<{ customer_id: string; email: string | null }>(
        'SELECT customer_id, email FROM customers',
      );
      indexed.push(...emails.rows.map((r) => ({ id: r.customer_id, email: r.email })));
    } finally {
      await client.close();
    }
  }
  const distinctEvents = new Set(published.map((e) => e.eventId)).size;
  const distinctCustomers = new Set(published.map((e) => e.customerId)).size;
  check(applied === distinctEvents, `events recorded once each: ${applied} of ${distinctEvents}`);
  check(customers === distinctCustomers, `customers across shards: ${customers} (${perShard.join(', ')})`);

  if (services.redis) {
    const redis = createClient({ url: services.redis.url });
    await redis.connect();
    try {
      let wrong = 0;
      for (const c of indexed) {
        if (c.email !== null && (await redis.get(`cdp:idx:email:${c.email}`)) !== c.id) wrong += 1;
      }
      check(
        wrong === 0 && outbox === 0,
        `Redis index agrees with the shards (${wrong} wrong, ${outbox} pending)`,
      );
    } finally {
      redis.destroy();
    }
  }

  const dlq = (await stream.endOffsets(LOCAL_DLQ_TOPIC).catch(() => [])).reduce((sum, end) => sum + end, 0);
  lines.push(`     dead letters in ${LOCAL_DLQ_TOPIC}: ${dlq}`);
  return { ok, lines };
}
