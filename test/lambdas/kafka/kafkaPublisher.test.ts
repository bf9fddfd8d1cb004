import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import { mockClient } from 'aws-sdk-client-mock';
import { TaskCancelledError } from 'cockatiel';
import {
  CompressionTypes,
  Kafka,
  type KafkaConfig,
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  type ProducerConfig,
  type ProducerRecord,
  type RecordMetadata,
} from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KafkaRecordParker } from '../../../lambdas/shared/consumer/KafkaRecordParker.js';
import { PARKED_FROM_HEADER, parkedRecordOf } from '../../../lambdas/shared/consumer/parking.js';
import type { Envelope } from '../../../lambdas/shared/events/index.js';
import { PublishError } from '../../../lambdas/shared/ingest/publisher.js';
import { classifyKafkaError } from '../../../lambdas/shared/kafka/classifyKafkaError.js';
import { kafkaConfig } from '../../../lambdas/shared/kafka/createKafka.js';
import { BootstrapBrokersError } from '../../../lambdas/shared/kafka/errors.js';
import {
  KafkaPublisher,
  type KafkaPublisherOptions,
  type ProducerHandle,
} from '../../../lambdas/shared/kafka/KafkaPublisher.js';
import { kafkaPolicy } from '../../../lambdas/shared/resilience/named.js';
import { mskRecord, registered } from '../../support/events.js';

const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab-2';
const IAM_BROKERS =
  'b-1.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098';
const TOPIC = 'customer-events.v1';
const RETRY_TOPIC = 'customer-events.v1.retry';

/** A kafkajs producer stand-in: records what the adapter asks of it; `failures` make sends throw. */
class FakeProducer implements ProducerHandle {
  public readonly sent: ProducerRecord[] = [];
  public readonly failures: unknown[] = [];
  public connects = 0;
  public disconnects = 0;
  public hang = false;

  public constructor(public readonly config: ProducerConfig) {}

  public async connect(): Promise<void> {
    this.connects += 1;
  }

  public async disconnect(): Promise<void> {
    this.disconnects += 1;
  }

  public async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.hang) await new Promise(() => undefined);
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    this.sent.push(record);
    return [];
  }
}

const kafkaMock = mockClient(KafkaClient);

function setup(overrides: Partial<KafkaPublisherOptions> = {}) {
  const configs: KafkaConfig[] = [];
  const producers: FakeProducer[] = [];
  const publisher = new KafkaPublisher({
    clusterArn: CLUSTER_ARN,
    kafkaClient: new KafkaClient({ region: 'eu-west-1' }),
    tokenProvider: async (region) => ({ token: `signed-for-${region}` }),
    bootstrapPolicy: kafkaPolicy({ attemptTimeoutMs: 1_000, retries: 0, initialDelayMs: 1, maxDelayMs: 1 }),
    createClient: (config) => {
      configs.push(config);
      return {
        producer: (producerConfig) => {
          const producer = new FakeProducer(producerConfig);
          producers.push(producer);
          return producer;
        },
      };
    },
    ...overrides,
  });
  return { publisher, configs, producers };
}

const events = (...customerIds: string[]): Envelope[] => customerIds.map((id) => registered(id, 0));

const rejectionOf = async (promise: Promise<unknown>): Promise<PublishError> => {
  try {
    await promise;
  } catch (error: unknown) {
    if (error instanceof PublishError) return error;
    throw error;
  }
  throw new Error('expected a PublishError');
};

const protocolError = (type: string, code: number, retriable: boolean) =>
  new KafkaJSProtocolError(Object.assign(new Error(`${type} from broker`), { type, code, retriable }));

beforeEach(() => {
  kafkaMock.reset();
  kafkaMock.on(GetBootstrapBrokersCommand).resolves({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
});

afterEach(() => {
  kafkaMock.reset();
});

describe('KafkaPublisher configuration', () => {
  it('connects to the IAM brokers from GetBootstrapBrokers over TLS with SASL OAUTHBEARER', async () => {
    const { publisher, configs } = setup();

    await publisher.publish(TOPIC, events('c-1'));

    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)[0]?.args[0].input).toEqual({
      ClusterArn: CLUSTER_ARN,
    });
    expect(configs).toHaveLength(1);
    const config = configs[0];
    expect(config?.brokers).toEqual(IAM_BROKERS.split(','));
    expect(config?.ssl).toBe(true);
    expect(config?.clientId).toBe('cdp-ingest');
    expect(config?.sasl?.mechanism).toBe('oauthbearer');
  });

  it("signs the OAUTHBEARER token for the cluster's region", async () => {
    const { publisher, configs } = setup();
    await publisher.publish(TOPIC, events('c-1'));
    const sasl = configs[0]?.sasl;
    if (sasl === undefined || !('oauthBearerProvider' in sasl)) throw new Error('expected OAUTHBEARER');

    await expect(sasl.oauthBearerProvider()).resolves.toEqual({ value: 'signed-for-eu-west-1' });
  });

  it('creates an idempotent producer with one request in flight and bounded retries', async () => {
    const { publisher, producers } = setup();

    await publisher.publish(TOPIC, events('c-1'));

    expect(producers[0]?.config).toMatchObject({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 3 },
    });
  });

  it('gives kafkajs producer options it accepts', () => {
    const { publisher } = setup();
    const warnings: string[] = [];
    const logger = {
      error: () => undefined,
      warn: (message: string) => warnings.push(message),
      info: () => undefined,
      debug: () => undefined,
    };
    const kafka = new Kafka(
      kafkaConfig({ brokers: ['127.0.0.1:9'], clientId: 'test', region: 'eu-west-1', logger }),
    );

    const producer = kafka.producer(publisher.producerConfig());

    expect(typeof producer.send).toBe('function');
    // Bounded retries are deliberate (see KafkaPublisher); kafkajs says so once per producer.
    expect(warnings).toEqual(['Limiting retries for the idempotent producer may invalidate EoS guarantees']);
  });

  it('refuses an ARN that is not an MSK cluster', () => {
    expect(() => setup({ clusterArn: 'arn:aws:sqs:eu-west-1:111111111111:queue' })).toThrow(RangeError);
  });
});

describe('KafkaPublisher.publish', () => {
  it('sends all envelopes of a call in one send: acks -1, GZIP, key = customerId, value = JSON', async () => {
    const { publisher, producers } = setup();
    const batch = events('c-1', 'c-2', 'c-1');

    await publisher.publish(TOPIC, batch);

    const sent = producers[0]?.sent ?? [];
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ topic: TOPIC, acks: -1, compression: CompressionTypes.GZIP });
    expect(sent[0]?.messages.map((m) => m.key)).toEqual(['c-1', 'c-2', 'c-1']);
    expect(sent[0]?.messages.map((m) => JSON.parse(String(m.value)))).toEqual(batch);
  });

  it('parks MSK records on the retry topic unchanged: key, value and headers, plus where they came from', async () => {
    const { publisher, producers } = setup();
    const parker = new KafkaRecordParker(publisher, RETRY_TOPIC);
    const original = mskRecord(TOPIC, 4, 812, registered('c-9', 0));
    original.headers = [{ traceparent: [...Buffer.from('00-abc-01')] }];

    await parker.park([parkedRecordOf(original)]);

    const sent = producers[0]?.sent ?? [];
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ topic: RETRY_TOPIC, acks: -1 });
    const [message] = sent[0]?.messages ?? [];
    expect(message?.key).toEqual(Buffer.from('c-9'));
    expect(message?.value).toEqual(Buffer.from(original.value, 'base64'));
    expect(message?.headers).toEqual({
      traceparent: Buffer.from('00-abc-01'),
      [PARKED_FROM_HEADER]: Buffer.from(`${TOPIC}/4/812`),
    });
  });

  it('connects lazily, once, and discovers the brokers once for the life of the instance', async () => {
    const { publisher, producers } = setup();
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(0);

    await Promise.all([publisher.publish(TOPIC, events('a')), publisher.publish(TOPIC, events('b'))]);
    await publisher.publish(TOPIC, events('c'));

    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(1);
    expect(producers).toHaveLength(1);
    expect(producers[0]?.connects).toBe(1);
    expect(producers[0]?.sent).toHaveLength(3);
  });

  it('does not connect for an empty batch', async () => {
    const { publisher, producers } = setup();

    await publisher.publish(TOPIC, []);

    expect(producers).toHaveLength(0);
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(0);
  });

  it('after a connection error, fails retriable, then rediscovers the brokers and connects a new producer', async () => {
    const { publisher, producers } = setup();
    await publisher.publish(TOPIC, events('a'));
    producers[0]?.failures.push(new KafkaJSConnectionError('Connection error: ECONNREFUSED'));

    const error = await rejectionOf(publisher.publish(TOPIC, events('b')));
    await publisher.publish(TOPIC, events('c'));

    expect(error).toMatchObject({ retriable: true, context: { topic: TOPIC, events: 1 } });
    expect(producers[0]?.disconnects).toBe(1);
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(2);
    expect(producers).toHaveLength(2);
    expect(producers[1]?.sent).toHaveLength(1);
  });

  it('rediscovers the brokers when kafkajs gives up retrying a connection error', async () => {
    const { publisher, producers } = setup();
    await publisher.publish(TOPIC, events('a'));
    producers[0]?.failures.push(
      new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('ECONNREFUSED'), {
        retryCount: 3,
        retryTime: 800,
      }),
    );

    const error = await rejectionOf(publisher.publish(TOPIC, events('b')));
    await publisher.publish(TOPIC, events('c'));

    expect(error.retriable).toBe(true);
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(2);
  });

  it('discards a failed producer once when concurrent sends on it fail together', async () => {
    const { publisher, producers } = setup();
    await publisher.publish(TOPIC, events('a'));
    producers[0]?.failures.push(new KafkaJSConnectionError('reset'), new KafkaJSConnectionError('reset'));

    const failures = await Promise.allSettled([
      publisher.publish(TOPIC, events('b')),
      publisher.publish(TOPIC, events('c')),
    ]);
    await publisher.publish(TOPIC, events('d'));

    expect(failures.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect(producers[0]?.disconnects).toBe(1);
    expect(producers).toHaveLength(2);
    expect(producers[1]?.sent).toHaveLength(1);
  });

  it('after a fatal broker error, fails fatal and starts a new producer on the same brokers', async () => {
    const { publisher, producers } = setup();
    await publisher.publish(TOPIC, events('a'));
    producers[0]?.failures.push(protocolError('MESSAGE_TOO_LARGE', 10, false));

    const error = await rejectionOf(publisher.publish(TOPIC, events('b')));
    await publisher.publish(TOPIC, events('c'));

    expect(error).toMatchObject({ retriable: false, context: { code: 'MESSAGE_TOO_LARGE' } });
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)).toHaveLength(1);
    expect(producers).toHaveLength(2);
  });

  it('fails retriable when a send does not finish within the publish deadline', async () => {
    const { publisher, producers } = setup({ settings: { publishTimeoutMillis: 50 } });
    await publisher.publish(TOPIC, events('a'));
    const first = producers[0];
    if (first) first.hang = true;

    const error = await rejectionOf(publisher.publish(TOPIC, events('b')));

    expect(error).toMatchObject({ retriable: true, context: { code: 'TIMEOUT' } });
    expect(first?.disconnects).toBe(1);
  });

  it('fails retriable while GetBootstrapBrokers is throttled, and discovers again on the next publish', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'TooManyRequestsException',
      $metadata: { httpStatusCode: 429 },
    });
    kafkaMock.on(GetBootstrapBrokersCommand).rejectsOnce(throttled).resolves({
      BootstrapBrokerStringSaslIam: IAM_BROKERS,
    });
    const { publisher, producers } = setup();

    const error = await rejectionOf(publisher.publish(TOPIC, events('a')));
    await publisher.publish(TOPIC, events('b'));

    expect(error).toMatchObject({ retriable: true, context: { code: 'BOOTSTRAP_BROKERS' } });
    expect(producers).toHaveLength(1);
  });

  it('fails fatal when the cluster has no IAM listener', async () => {
    kafkaMock.on(GetBootstrapBrokersCommand).resolves({ BootstrapBrokerStringTls: 'b-1:9094' });
    const { publisher } = setup();

    const error = await rejectionOf(publisher.publish(TOPIC, events('a')));

    expect(error.retriable).toBe(false);
    expect(error.message).toMatch(/no IAM bootstrap brokers/);
  });

  it('disconnects on close and refuses to publish afterwards', async () => {
    const { publisher, producers } = setup();
    await publisher.publish(TOPIC, events('a'));

    await publisher.close();
    await publisher.close();
    const error = await rejectionOf(publisher.publish(TOPIC, events('b')));

    expect(producers[0]?.disconnects).toBe(1);
    expect(error).toMatchObject({ retriable: false, message: 'publisher is closed' });
  });
});

describe('classifyKafkaError', () => {
  const context = { topic: TOPIC, events: 3 };

  it.each([
    [
      'KafkaJSConnectionError',
      new KafkaJSConnectionError('Connection timeout'),
      true,
      'KafkaJSConnectionError',
    ],
    [
      'KafkaJSRequestTimeoutError',
      new KafkaJSRequestTimeoutError('Request Produce(key: 0) timed out'),
      true,
      'KafkaJSRequestTimeoutError',
    ],
    [
      'KafkaJSNumberOfRetriesExceeded',
      new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('down'), {
        retryCount: 3,
        retryTime: 800,
      }),
      true,
      'KafkaJSNumberOfRetriesExceeded',
    ],
    [
      'a retriable protocol error (NOT_LEADER_FOR_PARTITION)',
      protocolError('NOT_LEADER_FOR_PARTITION', 6, true),
      true,
      'NOT_LEADER_FOR_PARTITION',
    ],
    [
      'a retriable protocol error (NOT_ENOUGH_REPLICAS)',
      protocolError('NOT_ENOUGH_REPLICAS', 19, true),
      true,
      'NOT_ENOUGH_REPLICAS',
    ],
    [
      'a KafkaJSError flagged retriable',
      new KafkaJSError('metadata not loaded', { retriable: true }),
      true,
      'KafkaJSError',
    ],
    ['the publish deadline', new TaskCancelledError('timed out'), true, 'TIMEOUT'],
    [
      'a throttled GetBootstrapBrokers',
      new BootstrapBrokersError('throttled', CLUSTER_ARN, { retriable: true }),
      true,
      'BOOTSTRAP_BROKERS',
    ],
    [
      'TOPIC_AUTHORIZATION_FAILED',
      protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false),
      false,
      'TOPIC_AUTHORIZATION_FAILED',
    ],
    ['MESSAGE_TOO_LARGE', protocolError('MESSAGE_TOO_LARGE', 10, false), false, 'MESSAGE_TOO_LARGE'],
    ['INVALID_RECORD', protocolError('INVALID_RECORD', 87, false), false, 'INVALID_RECORD'],
    [
      'KafkaJSNonRetriableError',
      new KafkaJSNonRetriableError('Idempotent producer must allow retries'),
      false,
      'KafkaJSNonRetriableError',
    ],
    [
      'a GetBootstrapBrokers access denial',
      new BootstrapBrokersError('denied', CLUSTER_ARN),
      false,
      'BOOTSTRAP_BROKERS',
    ],
    ['TypeError', new TypeError('x is not a function'), false, 'TypeError'],
    ['RangeError', new RangeError('At least one bootstrap broker is required'), false, 'RangeError'],
    ['an unknown error', new Error('something else'), false, 'Error'],
    ['a thrown string', 'boom', false, undefined],
  ])('classifies %s as retriable=%s', (_name, error, retriable, code) => {
    const classified = classifyKafkaError(error, context);

    expect(classified).toBeInstanceOf(PublishError);
    expect(classified.retriable).toBe(retriable);
    expect(classified.context).toEqual({ ...context, code });
    expect(classified.cause).toBe(error);
  });

  it('returns a PublishError unchanged', () => {
    const error = new PublishError('already classified', true, context);

    expect(classifyKafkaError(error)).toBe(error);
  });

  it('names the topic and the number of events in the message', () => {
    expect(classifyKafkaError(new KafkaJSConnectionError('ECONNRESET'), context).message).toBe(
      `publishing 3 event(s) to ${TOPIC} failed: ECONNRESET`,
    );
  });
});

describe('KafkaPublisher request size', () => {
  it('splits a publish larger than maxRecordsPerRequest into consecutive sends, in order', async () => {
    // Prepare
    const { publisher, producers } = setup({ settings: { maxRecordsPerRequest: 2 } });
    // Act
    await publisher.publish(TOPIC, events('c-1', 'c-2', 'c-3', 'c-4', 'c-5'));
    // Assess
    const sent = producers[0]?.sent ?? [];
    expect(sent.map((record) => record.messages.map((m) => m.key))).toEqual([
      ['c-1', 'c-2'],
      ['c-3', 'c-4'],
      ['c-5'],
    ]);
    expect(sent.every((record) => record.acks === -1 && record.compression === CompressionTypes.GZIP)).toBe(
      true,
    );
  });

  it('fails the whole publish when a later send fails, so the caller writes every record again', async () => {
    const { publisher, producers } = setup({ settings: { maxRecordsPerRequest: 2 } });
    await publisher.publish(TOPIC, events('c-0'));
    producers[0]?.failures.push(undefined, new KafkaJSConnectionError('broker went away'));

    const error = await rejectionOf(publisher.publish(TOPIC, events('c-1', 'c-2', 'c-3')));

    expect(error.retriable).toBe(true);
    expect(producers[0]?.sent.map((record) => record.messages.length)).toEqual([1, 2]);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses maxRecordsPerRequest %s', (value) => {
    expect(() => setup({ settings: { maxRecordsPerRequest: value } })).toThrow(
      /maxRecordsPerRequest must be a positive integer/,
    );
  });
});
