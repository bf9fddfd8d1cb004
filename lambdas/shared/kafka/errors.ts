import { type ErrorContext, isRetriable, PlatformError, type PlatformErrorOptions } from '../errors.js';

export { isRetriable };

/** Context attached to every Kafka administration error, logged as structured fields. */
export type KafkaErrorContext = ErrorContext;

export type KafkaAdminErrorOptions = PlatformErrorOptions;

/**
 * Base of the errors raised while administering a Kafka cluster (bootstrap discovery, topic planning,
 * topic changes). `retriable` tells callers whether the same request may succeed if repeated.
 */
export class KafkaAdminError extends PlatformError {
  public override readonly name: string = 'KafkaAdminError';
}

/** The request to the topic manager is malformed; repeating it cannot help. */
export class InvalidTopicRequestError extends KafkaAdminError {
  public override readonly name = 'InvalidTopicRequestError';

  public constructor(message: string, options: Omit<KafkaAdminErrorOptions, 'retriable'> = {}) {
    super(message, { ...options, retriable: false });
  }
}

/** The cluster's IAM bootstrap brokers could not be discovered. */
export class BootstrapBrokersError extends KafkaAdminError {
  public override readonly name = 'BootstrapBrokersError';

  public constructor(
    message: string,
    public readonly clusterArn: string,
    options: Omit<KafkaAdminErrorOptions, 'context'> = {},
  ) {
    super(message, { ...options, context: { clusterArn } });
  }
}

/** One topic whose configured partition count is lower than the cluster's. */
export interface PartitionShrink {
  readonly topic: string;
  readonly current: number;
  readonly desired: number;
}

/**
 * The configuration asks for fewer partitions than a topic has. Kafka can only add partitions, and
 * removing them would lose data and break key ordering, so the change is refused, never retried.
 */
export class PartitionShrinkError extends KafkaAdminError {
  public override readonly name = 'PartitionShrinkError';

  public constructor(public readonly shrinks: readonly PartitionShrink[]) {
    super(
      shrinks
        .map(
          (s) =>
            `Topic "${s.topic}" has ${s.current} partitions but the configuration asks for ${s.desired}: ` +
            'Kafka partitions can only grow; keep the count at or above the current one',
        )
        .join('; '),
      { context: { shrinks }, retriable: false },
    );
  }
}

/** A Kafka admin operation (describe, create, add partitions, alter configs) failed. */
export class TopicOperationError extends KafkaAdminError {
  public override readonly name = 'TopicOperationError';

  public constructor(
    public readonly operation: string,
    public readonly topics: readonly string[],
    options: { readonly cause: unknown },
  ) {
    const scope = topics.length > 0 ? ` for topic(s) ${topics.join(', ')}` : '';
    super(`Kafka ${operation} failed${scope}: ${messageOf(options.cause)}`, {
      cause: options.cause,
      context: { operation, topics },
      retriable: isRetriable(options.cause),
    });
  }
}

const messageOf = (value: unknown): string => (value instanceof Error ? value.message : String(value));
