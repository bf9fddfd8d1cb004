import type { Logger } from '@aws-lambda-powertools/logger';
import type { KafkaClient } from '@aws-sdk/client-kafka';
import { mskClusterArnOf } from '../aws/arn.js';
import { ENV } from '../contracts/index.js';
import { getIamBootstrapBrokers } from '../kafka/bootstrapBrokers.js';
import { createKafka } from '../kafka/createKafka.js';
import { KafkaPublisher } from '../kafka/KafkaPublisher.js';
import { requiredEnv } from '../requiredEnv.js';
import { BOOTSTRAP_POLICY } from '../resilience/defaults.js';
import { kafkaPolicy } from '../resilience/named.js';
import { KafkaEventLog } from './KafkaEventLog.js';

export interface MskEventLogOptions {
  readonly clusterArn: string;
  readonly kafkaClient: KafkaClient;
  readonly clientId: string;
  readonly logger?: Logger;
}

/**
 * The event log on an MSK cluster with IAM access control: reads with kafkajs configured by
 * `createKafka` (brokers discovered with `GetBootstrapBrokers`, named policy, on first use), writes with a
 * `KafkaPublisher` of the same cluster and client id. Reads join groups of `DEFAULT_REPLAY_GROUP_PREFIX`,
 * the only prefix the functions' IAM policies allow.
 * @throws {RangeError} when `clusterArn` is not an MSK cluster ARN.
 */
export function mskEventLog(options: MskEventLogOptions): KafkaEventLog {
  const region = mskClusterArnOf(options.clusterArn)?.region;
  if (region === undefined) throw new RangeError(`not an MSK cluster ARN: ${options.clusterArn}`);
  const logger = options.logger === undefined ? {} : { logger: options.logger };
  const bootstrap = kafkaPolicy(BOOTSTRAP_POLICY);
  return new KafkaEventLog({
    connect: async () => {
      const brokers = await bootstrap.execute(({ signal }) =>
        getIamBootstrapBrokers(options.kafkaClient, options.clusterArn, signal),
      );
      return createKafka({ brokers, clientId: options.clientId, region, ...logger });
    },
    publisher: new KafkaPublisher({
      clusterArn: options.clusterArn,
      kafkaClient: options.kafkaClient,
      clientId: options.clientId,
      ...logger,
    }),
  });
}

/**
 * {@link mskEventLog} of the cluster named by the function's environment, `CLUSTER_ARN`.
 * @throws {RangeError} when `CLUSTER_ARN` is not set or is not an MSK cluster ARN.
 */
export function mskEventLogFromEnvironment(
  clientId: string,
  dependencies: { readonly kafkaClient: KafkaClient; readonly logger?: Logger },
): KafkaEventLog {
  return mskEventLog({ clusterArn: requiredEnv(ENV.clusterArn), clientId, ...dependencies });
}
