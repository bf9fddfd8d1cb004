import { z } from 'zod';
import { InvalidShardMapError } from './errors.js';

/**
 * Customers hash into a fixed number of buckets; buckets are assigned to shards in ranges. Splitting a
 * shard later means moving a range of buckets to a new shard (and copying those customers), never
 * rehashing everyone. The bucket count is fixed for the life of the platform.
 */
export const DEFAULT_BUCKET_COUNT = 1024;

const shardSchema = z.object({
  id: z.string().regex(/^shard-\d+$/),
  /** AWS: the Aurora cluster reached with the Data API. */
  clusterArn: z.string().optional(),
  secretArn: z.string().optional(),
  database: z.string().default('customers'),
  /** Local runs and tests: a PostgreSQL URL. */
  url: z.string().optional(),
});

const rangeSchema = z.object({
  from: z.number().int().min(0),
  to: z.number().int().min(0),
  shard: z.string(),
});

export const shardMapSchema = z.object({
  version: z.literal(1),
  bucketCount: z.number().int().positive().default(DEFAULT_BUCKET_COUNT),
  shards: z.array(shardSchema).min(1),
  /** Inclusive bucket ranges; when absent, buckets are split into equal contiguous ranges in shard order. */
  buckets: z.array(rangeSchema).optional(),
});

export type ShardDescriptor = z.output<typeof shardSchema>;
export type BucketRange = z.output<typeof rangeSchema>;
export interface ShardMap {
  readonly version: 1;
  readonly bucketCount: number;
  readonly shards: readonly ShardDescriptor[];
  readonly buckets: readonly BucketRange[];
}

/** Equal contiguous ranges, shard i taking buckets [i*n/k, (i+1)*n/k). */
export function evenRanges(shardIds: readonly string[], bucketCount = DEFAULT_BUCKET_COUNT): BucketRange[] {
  return shardIds.map((shard, i) => ({
    from: Math.floor((i * bucketCount) / shardIds.length),
    to: Math.floor(((i + 1) * bucketCount) / shardIds.length) - 1,
    shard,
  }));
}

/**
 * Parses and checks a shard map (as published by the Data stack, or written for local runs).
 *
 * @throws {InvalidShardMapError} when the JSON is malformed, a bucket is unassigned or assigned twice,
 *   or a range names an unknown shard.
 */
export function parseShardMap(input: unknown): ShardMap {
  const parsed = shardMapSchema.safeParse(typeof input === 'string' ? safeJson(input) : input);
  if (!parsed.success) {
    throw new InvalidShardMapError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const { bucketCount, shards } = parsed.data;
  const buckets =
    parsed.data.buckets ??
    evenRanges(
      shards.map((s) => s.id),
      bucketCount,
    );
  const problems: string[] = [];
  const ids = new Set(shards.map((s) => s.id));
  if (ids.size !== shards.length) problems.push('shard ids must be unique');
  const owner: Array<string | undefined> = Array.from({ length: bucketCount }, () => undefined);
  for (const range of buckets) {
    if (!ids.has(range.shard))
      problems.push(`range ${range.from}-${range.to} names unknown shard ${range.shard}`);
    if (range.from > range.to || range.to >= bucketCount) {
      problems.push(`range ${range.from}-${range.to} is outside 0-${bucketCount - 1}`);
      continue;
    }
    for (let b = range.from; b <= range.to; b++) {
      if (owner[b] !== undefined) problems.push(`bucket ${b} is assigned to ${owner[b]} and ${range.shard}`);
      owner[b] = range.shard;
    }
  }
  const unassigned = owner.filter((o) => o === undefined).length;
  if (unassigned > 0) problems.push(`${unassigned} buckets are not assigned to any shard`);
  if (problems.length > 0) throw new InvalidShardMapError(problems.slice(0, 20));
  return { version: 1, bucketCount, shards, buckets };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error: unknown) {
    throw new InvalidShardMapError([`not JSON: ${error instanceof Error ? error.message : String(error)}`]);
  }
}
