import type { IndexedCustomer } from '../index/CustomerIndex.js';
import { type SqlClient, SqlJson } from '../sql/index.js';

const CLEAR = `
  DELETE FROM index_outbox o
  USING jsonb_to_recordset(:done::jsonb) AS d(customer_id text, event_count bigint)
  WHERE o.customer_id = d.customer_id AND o.event_count <= d.event_count`;

const PENDING = `
  SELECT o.customer_id, c.email, c.phone, c.event_count::float8 AS event_count
  FROM index_outbox o JOIN customers c USING (customer_id)
  ORDER BY o.enqueued_at
  LIMIT :limit`;

/**
 * Removes outbox rows whose customers the index now reflects. A row re-queued by a newer commit
 * (higher event count) stays.
 */
export async function clearIndexOutbox(
  client: SqlClient,
  done: ReadonlyArray<{ customerId: string; eventCount: number }>,
): Promise<void> {
  if (done.length === 0) return;
  await client.query(CLEAR, {
    done: new SqlJson(done.map((d) => ({ customer_id: d.customerId, event_count: d.eventCount }))),
  });
}

/**
 * Pushes the current state of up to `limit` queued customers into the index and clears them.
 * @returns how many were repaired and whether more remain.
 * @throws when the shard or the index fails; nothing is cleared then.
 */
export async function drainIndexOutbox(
  client: SqlClient,
  write: (customers: readonly IndexedCustomer[]) => Promise<void>,
  options: { limit: number },
): Promise<{ count: number; remaining: boolean }> {
  const pending = await client.query<{
    customer_id: string;
    email: string | null;
    phone: string | null;
    event_count: number;
  }>(PENDING, { limit: options.limit });
  if (pending.rows.length === 0) return { count: 0, remaining: false };
  const customers = pending.rows.map((r) => ({
    customerId: r.customer_id,
    email: r.email,
    phone: r.phone,
    eventCount: Number(r.event_count),
  }));
  await write(customers);
  await clearIndexOutbox(
    client,
    pending.rows.map((r) => ({ customerId: r.customer_id, eventCount: Number(r.event_count) })),
  );
  return { count: pending.rows.length, remaining: pending.rows.length === options.limit };
}
