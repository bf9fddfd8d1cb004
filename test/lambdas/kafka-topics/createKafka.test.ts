import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { parseBrokerString } from '../../../lambdas/shared/kafka/bootstrapBrokers.js';
import {
  createKafka,
  KAFKA_RETRY,
  type KafkaLogger,
  kafkaConfig,
  kafkaLogCreator,
  REQUEST_TIMEOUT_MS,
} from '../../../lambdas/shared/kafka/createKafka.js';
import { IAM_BROKERS } from '../../support/fakeTopicAdmin.js';

describe('createKafka', () => {
  const options = {
    brokers: parseBrokerString(IAM_BROKERS),
    clientId: 'cdp-topic-manager',
    region: 'eu-west-1',
  };

  it('connects with TLS and SASL OAUTHBEARER to the IAM brokers', () => {
    // Act
    const config = kafkaConfig(options);

    // Assess
    expect(config.ssl).toBe(true);
    expect(config.sasl?.mechanism).toBe('oauthbearer');
    expect(config.brokers).toEqual([
      'b-1.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098',
      'b-2.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098',
      'b-3.cdpdev.abc.c2.kafka.eu-west-1.amazonaws.com:9098',
    ]);
    expect(config.clientId).toBe('cdp-topic-manager');
    expect(config.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
    expect(config.retry).toEqual(KAFKA_RETRY);
  });

  it('presents a token signed for the cluster region on every authentication', async () => {
    // Prepare
    const tokenProvider = vi.fn(async (region: string) => ({ token: `signed-for-${region}` }));
    const config = kafkaConfig({ ...options, tokenProvider });
    const sasl = config.sasl;
    if (sasl === undefined || !('oauthBearerProvider' in sasl)) throw new Error('expected OAUTHBEARER');

    // Act
    const first = await sasl.oauthBearerProvider();
    const second = await sasl.oauthBearerProvider();

    // Assess
    expect(first).toEqual({ value: 'signed-for-eu-west-1' });
    expect(second).toEqual(first);
    expect(tokenProvider).toHaveBeenCalledTimes(2);
  });

  it('refuses an empty broker list', () => {
    expect(() => kafkaConfig({ ...options, brokers: [] })).toThrow(RangeError);
  });

  it('builds a client without connecting', () => {
    expect(createKafka(options)).toBeInstanceOf(Kafka);
  });

  it('routes kafkajs logs to the structured logger by level', () => {
    // Prepare
    const logger: KafkaLogger = { error: vi.fn(), warn: vi.fn(), info: vi.fn(), debug: vi.fn() };
    const log = kafkaLogCreator(logger)(logLevel.WARN);
    const entry = (level: logLevel, message: string) => ({
      namespace: 'Connection',
      level,
      label: 'x',
      log: { message, timestamp: 't', broker: 'b-1:9098' },
    });

    // Act
    log(entry(logLevel.ERROR, 'boom'));
    log(entry(logLevel.WARN, 'careful'));

    // Assess
    expect(logger.error).toHaveBeenCalledWith('boom', {
      kafka: { namespace: 'Connection', timestamp: 't', broker: 'b-1:9098' },
    });
    expect(logger.warn).toHaveBeenCalledWith(
      'careful',
      expect.objectContaining({ kafka: expect.any(Object) }),
    );
  });
});
