import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { HttpApi } from '../shared/http/index.js';
import { IngestService, type IngestSettings } from '../shared/ingest/IngestService.js';
import type { EventPublisher } from '../shared/ingest/publisher.js';
import { ResilientPublisher } from '../shared/ingest/ResilientPublisher.js';
import { SqsSpilloverBuffer } from '../shared/ingest/SqsSpilloverBuffer.js';
import { KafkaPublisher, type KafkaPublisherOptions } from '../shared/kafka/KafkaPublisher.js';
import { openRedis, type RedisClient } from '../shared/redis/createRedisClient.js';
import { createRouter, v1Routes } from './routes.js';

export type PublisherWiring = KafkaPublisherOptions & {
  readonly topic: string;
  /** The handler's metrics (flushed by it) and logger. */
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The encrypted SQS FIFO spillover queue and its bound (events). */
  readonly spillover: { readonly sqs: SQSClient; readonly queueUrl: string; readonly bound?: number };
};

/**
 * The publisher the ingest API writes to: the Kafka adapter inside the resilient publisher, so a broker
 * outage costs a bounded wait and then a durable spill (or a 503 when the spillover is full), never an
 * accepted event.
 */
export function createPublisher(options: PublisherWiring): EventPublisher {
  const { topic, spillover, metrics, ...kafka } = options;
  return new ResilientPublisher({
    inner: new KafkaPublisher(kafka),
    metrics,
    logger: options.logger,
    spillover: new SqsSpilloverBuffer({
      sqs: spillover.sqs,
      queueUrl: spillover.queueUrl,
      ...(spillover.bound === undefined ? {} : { bound: spillover.bound }),
    }),
    topic,
  });
}

export interface IngestWiring {
  readonly topic: string;
  readonly publisher: EventPublisher;
  /** The idempotency store; without it `Idempotency-Key` is validated but not enforced. */
  readonly redis?: { readonly url: string; readonly password?: string | undefined } | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly settings?: Partial<IngestSettings>;
}

export interface WiredIngest {
  readonly service: IngestService;
  /** The ingest API's routes on the Powertools Router. */
  readonly router: HttpApi;
  readonly redis: RedisClient | undefined;
  /** Closes the publisher and the Redis connection. */
  close(): Promise<void>;
}

/**
 * Builds the ingest service and its router. Redis is connected leniently: if it is down at start-up the
 * client reconnects in the background and requests are accepted without the idempotency guard meanwhile.
 */
export async function wireIngest(wiring: IngestWiring): Promise<WiredIngest> {
  const redis = wiring.redis ? await openRedis(wiring.redis, wiring.logger) : undefined;
  const service = new IngestService({
    publisher: wiring.publisher,
    topic: wiring.topic,
    redis,
    logger: wiring.logger,
    metrics: wiring.metrics,
    ...(wiring.settings === undefined ? {} : { settings: wiring.settings }),
  });
  return {
    service,
    router: createRouter(v1Routes(service), wiring.logger),
    redis,
    async close() {
      await wiring.publisher.close();
      if (redis?.isOpen) redis.destroy();
    },
  };
}
