import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEventsToShard, outcomeOf } from '../../lambdas/shared/customers/applyEventsToShard.js';
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

    expect(again).toEqual({ shard: 'shard-0', applied: [], alreadyApplied: [1, 2, 3] });
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

  it('tells a redelivery from an event id reused for another fact by the digest of the recorded body', async () => {
    const first = envelope('customer.profile-changed', 'dave', 0, { givenName: 'First' });
    // The same fact, written with another offset and metadata: a redelivery, not a new fact.
    const sameFact = { ...first, occurredAt: '2026-01-01T01:00:00+01:00', source: 'replay' };
    const otherFact = envelope('customer.profile-changed', 'dave', 5, { givenName: 'Other' }, first.eventId);
    const legacy = registered('erin', 0);
    const legacyOther = { ...legacy, payload: { ...legacy.payload, givenName: 'Changed' } };
    await applyEventsToShard(client, [{ event: toEvent(first) }, { event: toEvent(legacy) }], bucket);
    // Recorded before digests were kept: its body is unknown.
    await client.query('UPDATE applied_events SET body_digest = NULL WHERE event_id = :id', {
      id: legacy.eventId,
    });

    const result = await applyEventsToShard(
      client,
      [sameFact, otherFact, legacyOther].map((e) => ({ event: toEvent(e) })),
      bucket,
    );

    expect(outcomeOf(result, toEvent(sameFact))).toBe('duplicate');
    expect(outcomeOf(result, toEvent(otherFact))).toBe('conflict');
    expect(outcomeOf(result, toEvent(legacyOther))).toBe('duplicate');
    const { rows } = await client.query(
      "SELECT given_name, event_count FROM customers WHERE customer_id = 'dave'",
    );
    expect(rows).toEqual([{ given_name: 'First', event_count: '1' }]);
  });

  it('records the first delivered of two bodies under one event id and refuses the other', async () => {
    const kept = envelope('customer.profile-changed', 'frank', 0, { givenName: 'Kept' });
    const refused = envelope('customer.profile-changed', 'frank', 9, { givenName: 'Refused' }, kept.eventId);
    const at = (offset: number) => ({ topic: 'customer-events.v1', partition: 0, offset });

    const result = await applyEventsToShard(
      client,
      [
        { event: toEvent(refused), source: at(8) },
        { event: toEvent(kept), source: at(7) },
      ],
      bucket,
    );

    expect(outcomeOf(result, toEvent(kept))).toBe('applied');
    expect(outcomeOf(result, toEvent(refused))).toBe('conflict');
    const { rows } = await client.query(
      "SELECT given_name, event_count FROM customers WHERE customer_id = 'frank'",
    );
    expect(rows).toEqual([{ given_name: 'Kept', event_count: '1' }]);
  });
});
