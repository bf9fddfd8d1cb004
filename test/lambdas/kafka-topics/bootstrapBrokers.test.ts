import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { getIamBootstrapBrokers } from '../../../lambdas/shared/kafka/bootstrapBrokers.js';
import { BootstrapBrokersError, isRetriable } from '../../../lambdas/shared/kafka/errors.js';
import { CLUSTER_ARN } from '../../support/fakeTopicAdmin.js';

const kafkaMock = mockClient(KafkaClient);

describe('getIamBootstrapBrokers', () => {
  afterEach(() => {
    kafkaMock.reset();
  });

  it('splits the IAM broker string on commas', async () => {
    // Prepare
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: ' b-1:9098,b-2:9098 ,,b-3:9098' });

    // Act
    const brokers = await getIamBootstrapBrokers(new KafkaClient({ region: 'eu-west-1' }), CLUSTER_ARN);

    // Assess
    expect(brokers).toEqual(['b-1:9098', 'b-2:9098', 'b-3:9098']);
    expect(kafkaMock.commandCalls(GetBootstrapBrokersCommand)[0]?.args[0].input).toEqual({
      ClusterArn: CLUSTER_ARN,
    });
  });

  it('marks throttling as retriable and access denied as not', async () => {
    // Prepare
    const client = new KafkaClient({ region: 'eu-west-1' });
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
    const denied = Object.assign(new Error('not authorized'), {
      name: 'ForbiddenException',
      $metadata: { httpStatusCode: 403 },
    });
    kafkaMock.on(GetBootstrapBrokersCommand).rejectsOnce(throttled).rejectsOnce(denied);

    // Act
    const first = await getIamBootstrapBrokers(client, CLUSTER_ARN).catch((e: unknown) => e);
    const second = await getIamBootstrapBrokers(client, CLUSTER_ARN).catch((e: unknown) => e);

    // Assess
    expect(first).toBeInstanceOf(BootstrapBrokersError);
    expect(isRetriable(first)).toBe(true);
    expect(isRetriable(second)).toBe(false);
  });
});
