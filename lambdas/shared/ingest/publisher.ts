import type { Envelope } from '../events/index.js';

/**
 * Where accepted events go: Kafka (MSK) in AWS, the local log locally. Implementations publish a batch
 * with key = customerId so one customer's events stay ordered in one partition.
 */
export interface EventPublisher {
  /**
   * Publishes every envelope, or none is considered published.
   * @throws {PublishError} `retriable` when the broker is unavailable or slow, fatal otherwise.
   */
  publish(topic: string, envelopes: readonly Envelope[]): Promise<void>;
  close(): Promise<void>;
}

/** Raised by publishers; `retriable` tells whether the same batch can succeed later. */
export class PublishError extends Error {
  public override readonly name = 'PublishError';

  public constructor(
    message: string,
    public readonly retriable: boolean,
    public readonly context: {
      readonly topic: string;
      readonly events: number;
      readonly code?: string | undefined;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The durable spillover buffer: accepted events that could not be published yet (an encrypted SQS queue
 * in AWS, a topic of the local log locally). Bounded; never drops.
 */
export interface SpilloverBuffer {
  /** Events waiting to be republished. */
  depth(): Promise<number>;
  /**
   * Stores the envelopes durably, in order.
   * @throws {BackpressureError} when storing them would exceed the bound.
   */
  spill(envelopes: readonly Envelope[]): Promise<void>;
  /** Reads up to `max` of the oldest spilled envelopes (in spill order) without removing them. */
  peek(max: number): Promise<ReadonlyArray<{ readonly receipt: string; readonly envelope: Envelope }>>;
  /** Removes envelopes that were republished. */
  acknowledge(receipts: readonly string[]): Promise<void>;
}

/** The spillover is full: the caller must slow down (HTTP 503 with Retry-After). Nothing was stored. */
export class BackpressureError extends Error {
  public override readonly name = 'BackpressureError';
  public readonly retriable = true;

  public constructor(
    public readonly retryAfterSeconds: number,
    public readonly depth: number,
    public readonly bound: number,
  ) {
    super(`spillover buffer full (${depth} of ${bound} events); retry after ${retryAfterSeconds} s`);
  }
}
