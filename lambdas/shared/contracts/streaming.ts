/** The topics of the platform on MSK (and on the local log or a loopback Kafka cluster). */
export const TOPICS = {
  /** Customer events, key = customerId. */
  events: 'customer-events.v1',
  /** Records parked while their shard is unavailable, and replayed or redriven ranges. */
  retry: 'customer-events.v1.retry',
  /** Dead letters of the local runtime (Lambda's on-failure destination is an SQS queue). */
  deadLetters: 'customer-events.v1.dlq',
} as const;

/** The consumer group of the events topic's mapping in an environment (`cdp-prod` → `cdp-prod-customer-consumer`). */
export const consumerGroupName = (namePrefix: string): string => `${namePrefix}-customer-consumer`;

/** The consumer group of the retry topic's mapping. */
export const retryConsumerGroup = (consumerGroup: string): string => `${consumerGroup}-retry`;
