import { createHash } from 'node:crypto';
import type { ShardDescriptor, ShardMap } from './shardMap.js';

/**
 * The bucket of a customer: the first 32 bits of SHA-256 of its id, modulo the bucket count. Stable
 * across processes, deploys and languages (anyone can recompute it), unlike a runtime hash.
 */
export function bucketOf(customerId: string, bucketCount: number): number {
  return createHash('sha256').update(customerId, 'utf8').digest().readUInt32BE(0) % bucketCount;
}

/** Routes a customer to the shard that owns its bucket. */
export class ShardRouter {
  private readonly ownerOfBucket: readonly ShardDescriptor[];
  private readonly byId: ReadonlyMap<string, ShardDescriptor>;

  public constructor(public readonly map: ShardMap) {
    this.byId = new Map(map.shards.map((s) => [s.id, s]));
    const owners = new Array<ShardDescriptor>(map.bucketCount);
    for (const range of map.buckets) {
      const shard = this.byId.get(range.shard);
      if (shard === undefined) continue;
      for (let b = range.from; b <= range.to; b++) owners[b] = shard;
    }
    this.ownerOfBucket = owners;
  }

  public get shards(): readonly ShardDescriptor[] {
    return this.map.shards;
  }

  public bucketOf(customerId: string): number {
    return bucketOf(customerId, this.map.bucketCount);
  }

  /** The shard owning `customerId`. A parsed map assigns every bucket, so this always answers. */
  public shardFor(customerId: string): ShardDescriptor {
    const shard = this.ownerOfBucket[this.bucketOf(customerId)];
    if (shard === undefined) throw new RangeError(`bucket of ${customerId} has no shard`);
    return shard;
  }

  public shard(id: string): ShardDescriptor | undefined {
    return this.byId.get(id);
  }
}
