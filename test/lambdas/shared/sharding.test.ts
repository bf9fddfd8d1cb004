import { describe, expect, it } from 'vitest';
import {
  bucketOf,
  evenRanges,
  InvalidShardMapError,
  parseShardMap,
  ShardRouter,
} from '../../../lambdas/shared/sharding/index.js';

const shards = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `shard-${i}` }));

describe('shard routing', () => {
  it('hashes a customer to the same bucket every time (pinned values guard against drift)', () => {
    expect(bucketOf('customer-1', 1024)).toBe(bucketOf('customer-1', 1024));
    expect([bucketOf('customer-1', 1024), bucketOf('c-42', 1024), bucketOf('', 1024)]).toMatchInlineSnapshot(`
      [
        220,
        315,
        66,
      ]
    `);
  });

  it('spreads 40,000 customers evenly over 4 shards (within 5%)', () => {
    const router = new ShardRouter(parseShardMap({ version: 1, shards: shards(4) }));
    const counts = new Map<string, number>();

    for (let i = 0; i < 40_000; i++) {
      const id = router.shardFor(`customer-${i}`).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }

    for (const count of counts.values()) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it('moves only the customers of the moved buckets when a shard is split', () => {
    const before = new ShardRouter(parseShardMap({ version: 1, shards: shards(2) }));
    const split = evenRanges(['shard-0', 'shard-1']);
    const [first, second] = split;
    if (!first || !second) throw new Error('unreachable');
    const after = new ShardRouter(
      parseShardMap({
        version: 1,
        shards: shards(3),
        buckets: [first, { ...second, to: 767 }, { from: 768, to: 1023, shard: 'shard-2' }],
      }),
    );

    for (let i = 0; i < 5_000; i++) {
      const id = `customer-${i}`;
      const moved = after.bucketOf(id) >= 768;
      expect(after.shardFor(id).id).toBe(moved ? 'shard-2' : before.shardFor(id).id);
    }
  });

  it('refuses a map that leaves buckets unassigned, overlaps, or names an unknown shard', () => {
    const attempt = () =>
      parseShardMap({
        version: 1,
        shards: shards(2),
        buckets: [
          { from: 0, to: 600, shard: 'shard-0' },
          { from: 600, to: 1000, shard: 'shard-9' },
        ],
      });

    expect(attempt).toThrow(InvalidShardMapError);
    expect(attempt).toThrow(/bucket 600 is assigned to shard-0 and shard-9/);
    expect(attempt).toThrow(/names unknown shard shard-9/);
    expect(attempt).toThrow(/23 buckets are not assigned/);
  });

  it('reads the map published by the Data stack as a JSON string', () => {
    const map = parseShardMap(
      JSON.stringify({
        version: 1,
        shards: [{ id: 'shard-0', clusterArn: 'arn:aws:rds:x', secretArn: 'arn:s' }],
      }),
    );

    expect(map.bucketCount).toBe(1024);
    expect(map.shards[0]?.database).toBe('customers');
    expect(() => parseShardMap('{oops')).toThrow(/not JSON/);
  });
});
