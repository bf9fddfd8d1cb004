import { z } from 'zod';

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** A Kafka topic name, wherever the config names one. */
export const topicName = z
  .string()
  .regex(TOPIC_NAME, 'must be a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)');

export const topicSchema = z.strictObject({
  name: topicName,
  partitions: z.number().int().min(1).max(1000),
  retentionHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 365),
});

/** The MSK cluster and its topics. */
export const streamingSchema = z.strictObject({
  kafkaVersion: z
    .string()
    .regex(/^\d+\.\d+\.(\d+|x)(\.kraft)?$/, 'must be an MSK Kafka version such as 3.8.x'),
  brokerCount: z.number().int().min(3, 'replication factor 3 needs at least 3 brokers'),
  brokerInstanceType: z.string().regex(/^kafka\.[a-z0-9]+\.[a-z0-9]+$/, 'must be an MSK instance type'),
  brokerStorageGiB: z.number().int().min(1).max(16384),
  logRetentionDays: z.number().int().positive(),
  topics: z.array(topicSchema).min(1),
});

export type TopicConfig = Readonly<z.infer<typeof topicSchema>>;
