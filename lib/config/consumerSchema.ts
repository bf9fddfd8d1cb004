import { z } from 'zod';
import { topicName } from './streamingSchema.js';

/** Lambda's limits for a Kafka event source mapping in provisioned mode, and for a function. */
export const consumerSchema = z.strictObject({
  /** The topic the consumer reads; one of `streaming.topics`. */
  topic: topicName,
  /**
   * The topic of the consumer's second mapping, one of `streaming.topics`: records of a shard whose breaker
   * is open are parked there (so the other shards' records keep flowing) and replays are written there.
   */
  retryTopic: topicName,
  /** Kafka consumer group of the event source mapping; fixed once the mapping exists. */
  consumerGroup: z
    .string()
    .regex(/^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/, 'must be 1-200 characters of [a-zA-Z0-9-/*:_+=.@]'),
  batchSize: z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10000'),
  maxBatchingWindowSeconds: z.number().int().min(0).max(300, 'must be at most 300 (5 minutes)'),
  minimumPollers: z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200'),
  maximumPollers: z.number().int().min(1, 'must be at least 1').max(2000, 'must be at most 2000'),
  /** Retries of a failed batch before its records go to the on-failure queue. */
  retryAttempts: z.number().int().min(0, 'must be at least 0').max(10_000, 'must be at most 10000'),
  /** Records older than this go to the on-failure queue unprocessed. */
  maxRecordAgeSeconds: z
    .number()
    .int()
    .min(60, 'must be at least 60')
    .max(604_800, 'must be at most 604800 (7 days)'),
  memoryMiB: z.number().int().min(128, 'must be at least 128').max(10_240, 'must be at most 10240'),
  timeoutSeconds: z.number().int().min(1, 'must be at least 1').max(900, 'must be at most 900 (15 minutes)'),
  /** Caps the consumer's concurrency so a backlog cannot starve the account's other functions. */
  reservedConcurrency: z.number().int().min(1, 'must be at least 1').optional(),
  /**
   * Expected throughput of the events topic in MB/s, steady and at peak: the pollers are sized by the rule
   * AWS documents (a provisioned poller handles about 5 MB/s; Lambda caps the pollers at the partitions).
   */
  throughputMBps: z.strictObject({
    steady: z.number().positive('must be positive'),
    peak: z.number().positive('must be positive'),
  }),
  /** The lag scaler: steps the events mapping's minimum pollers between minimumPollers and `ceiling`. */
  scaling: z.strictObject({
    ceiling: z.number().int().min(1, 'must be at least 1'),
    step: z.number().int().min(1, 'must be at least 1'),
    /** Least time between two changes: a change must take effect before the next is decided. */
    cooldownSeconds: z.number().int().min(60, 'must be at least 60 (one alarm period)'),
    /** Scale out while the lag of the events topic is at or above this (records, maximum over a minute). */
    highLag: z.number().int().min(1, 'must be at least 1'),
    /** Scale in once the lag has stayed at or below this for `lowLagMinutes`. */
    lowLag: z.number().int().min(0, 'must be at least 0'),
    lowLagMinutes: z.number().int().min(1, 'must be at least 1').max(60, 'must be at most 60'),
  }),
});

/** The pollers and the scaler against the throughput and the topic: what AWS documents for provisioned mode. */
export function checkPollerSizing(
  cfg: {
    consumer: z.infer<typeof consumerSchema>;
    streaming: { topics: ReadonlyArray<{ name: string; partitions: number }> };
  },
  ctx: z.RefinementCtx,
): void {
  const { consumer } = cfg;
  const issue = (path: string[], message: string) =>
    ctx.addIssue({ code: 'custom', path: ['consumer', ...path], message });
  const steady = Math.ceil(consumer.throughputMBps.steady / POLLER_MB_PER_SECOND);
  const peak = Math.ceil(consumer.throughputMBps.peak / POLLER_MB_PER_SECOND);
  if (consumer.minimumPollers < steady) {
    issue(
      ['minimumPollers'],
      `must be >= ${steady}: ${consumer.throughputMBps.steady} MB/s steady at ~${POLLER_MB_PER_SECOND} MB/s per poller`,
    );
  }
  if (consumer.maximumPollers < peak) {
    issue(
      ['maximumPollers'],
      `must be >= ${peak}: ${consumer.throughputMBps.peak} MB/s at peak at ~${POLLER_MB_PER_SECOND} MB/s per poller`,
    );
  }
  const partitions = cfg.streaming.topics.find((t) => t.name === consumer.topic)?.partitions;
  if (partitions !== undefined && consumer.maximumPollers > partitions) {
    issue(
      ['maximumPollers'],
      `must be <= ${partitions}, the partitions of ${consumer.topic}: Lambda runs at most one poller per partition`,
    );
  }
  if (
    consumer.scaling.ceiling < consumer.minimumPollers ||
    consumer.scaling.ceiling > consumer.maximumPollers
  ) {
    issue(
      ['scaling', 'ceiling'],
      `must lie between minimumPollers (${consumer.minimumPollers}) and maximumPollers (${consumer.maximumPollers})`,
    );
  }
  if (consumer.scaling.lowLag >= consumer.scaling.highLag) {
    issue(
      ['scaling', 'lowLag'],
      `must be below highLag (${consumer.scaling.highLag}), or scaling would flap`,
    );
  }
}

/** Megabytes per second one provisioned Kafka poller handles (AWS documentation). */
export const POLLER_MB_PER_SECOND = 5;
