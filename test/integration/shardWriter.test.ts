import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEventsToShard } from '../../lambdas/shared/customers/applyEventsToShard.js';
import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { bucketOf } from '../../lambdas/shared/sharding/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import { PostgresServer } from '../../local/services/index.js';
import { envelope, registered, toEvent } from '../support/events.js';

describe('shard writer on real PostgreSQL', () => {
  let server: PostgresServer;
  let client: PgSqlClient;
  const bucket = (id: string) => bucketOf(id, 1024);

  beforeAll(async () => {
    server = await PostgresServer.start({ name: 'shard-writer' });
    const [url] = await server.createShardDatabases(1);
    client = new PgSqlClient({ name: 'shard-0', connectionString: url ?? '' });
    await migrateShard(client);
  });

  afterAll(async () => {
    await client?.close();
    await server?.destroy();
  });

  it('migrates idempotently and refuses a released migration that changed', async () => {
    const again = await migrateShard(client);

    expect(again).toEqual({ shard: 'shard-0', applied: [], alreadyApplied: [1, 2] });
    await expect(
      migrateShard(client, [{ version: 1, name: 'edited', statements: ['SELECT 1'] }]),
    ).rejects.toThrow(/migration 1 \(edited\) changed after it was applied/);
  });

  it('applies each event once, whatever order and however often it arrives', async () => {
    const reg = registered('alice', 0);
    const email = envelope('customer.email-changed', 'alice', 10, { email: 'alice@new.example' });
    const olderEmail = envelope('customer.email-changed', 'alice', 5, { email: 'alice@old.example' });
    const phone = envelope('customer.phone-changed', 'alice', 7, { phone: '+447700900001' });

    const first = await applyEventsToShard(
      client,
      [email, reg].map((e) => ({ event: toEvent(e) })),
      bucket,
    );
    const second = await applyEventsToShard(
      client,
      [reg, email, olderEmail, phone, phone].map((e) => ({ event: toEvent(e) })),
      bucket,
    );

    expect(Object.fromEntries(first.outcomes)).toEqual({
      [reg.eventId]: 'applied',
      [email.eventId]: 'applied',
    });
    expect(Object.fromEntries(second.outcomes)).toEqual({
      [reg.eventId]: 'duplicate',
      [email.eventId]: 'duplicate',
      [olderEmail.eventId]: 'stale',
      [phone.eventId]: 'applied',
    });
    const { rows } = await client.query('SELECT email, phone, given_name, event_count FROM customers');
    expect(rows).toEqual([
      { email: 'alice@new.example', phone: '+447700900001', given_name: 'Given', event_count: '4' },
    ]);
    const audit = await client.query(
      'SELECT outcome, count(*)::int AS n FROM applied_events GROUP BY 1 ORDER BY 1',
    );
    expect(audit.rows).toEqual([
      { outcome: 'applied', n: 3 },
      { outcome: 'stale', n: 1 },
    ]);
  });

  it('erases personal data and ignores older facts that arrive afterwards', async () => {
    const reg = registered('bob', 0);
    const erased = envelope('customer.erased', 'bob', 20, { reason: 'customer-request' });
    const lateAddress = envelope('customer.address-changed', 'bob', 15, {
      address: { line1: '1 Road', city: 'Town', postalCode: 'AB1', country: 'GB' },
    });

    await applyEventsToShard(
      client,
      [reg, erased].map((e) => ({ event: toEvent(e) })),
      bucket,
    );
    const late = await applyEventsToShard(client, [{ event: toEvent(lateAddress) }], bucket);

    expect(late.outcomes.get(lateAddress.eventId)).toBe('stale');
    const { rows } = await client.query(
      "SELECT email, given_name, address, erased_at IS NOT NULL AS erased FROM customers WHERE customer_id = 'bob'",
    );
    expect(rows).toEqual([{ email: null, given_name: null, address: null, erased: true }]);
  });

  it('queues index changes in the outbox in the same transaction', async () => {
    const result = await applyEventsToShard(client, [{ event: toEvent(registered('carol', 0)) }], bucket);

    expect(result.indexEntries).toEqual([
      { customerId: 'carol', email: 'carol@example.com', phone: null, eventCount: 1 },
    ]);
    const outbox = await client.query("SELECT event_count FROM index_outbox WHERE customer_id = 'carol'");
    expect(outbox.rows).toEqual([{ event_count: '1' }]);
  });
});
