import type { Logger } from '@aws-lambda-powertools/logger';
import type { KafkaClient } from '@aws-sdk/client-kafka';
import { getIamBootstrapBrokers } from '../kafka/bootstrapBrokers.js';
import { createKafka } from '../kafka/createKafka.js';
import { BOOTSTRAP_POLICY, kafkaPolicy } from '../kafka/policies.js';
import { KafkaEventLog } from './KafkaEventLog.js';

const CLUSTER_ARN = /^arn:aws[a-z-]*:kafka:([a-z0-9-]+):\d{12}:cluster\/.+/;

/**
 * The event log on an MSK cluster with IAM access control: brokers discovered with `GetBootstrapBrokers`
 * (named policy) on first use, kafkajs configured by `createKafka`.
 * @throws {RangeError} when `clusterArn` is not an MSK cluster ARN.
 */
export function mskEventLog(options: {
  readonly clusterArn: string;
  readonly kafkaClient: KafkaClient;
  readonly clientId: string;
  readonly groupPrefix?: string;
  readonly logger?: Logger;
}): KafkaEventLog {
  const region = CLUSTER_ARN.exec(options.clusterArn)?.[1];
  if (region === undefined) throw new RangeError(`not an MSK cluster ARN: ${options.clusterArn}`);
  const bootstrap = kafkaPolicy(BOOTSTRAP_POLICY);
  return new KafkaEventLog(async () => {
    const brokers = await bootstrap.execute(({ signal }) =>
      getIamBootstrapBrokers(options.kafkaClient, options.clusterArn, signal),
    );
    return createKafka({
      brokers,
      clientId: options.clientId,
      region,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }, options.groupPrefix);
}
