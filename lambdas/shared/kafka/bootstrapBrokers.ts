import { GetBootstrapBrokersCommand, type KafkaClient } from '@aws-sdk/client-kafka';
import { isTransientAwsError } from '../aws/transientAwsError.js';
import { BootstrapBrokersError } from './errors.js';

/** Splits a `host:port,host:port` broker string from the MSK API into its entries. */
export const parseBrokerString = (brokers: string): string[] =>
  brokers
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');

/**
 * The bootstrap brokers of the cluster's IAM listener (TLS, port 9098).
 *
 * @throws {BootstrapBrokersError} when the call fails (retriable if throttled or a server error) or the
 *   cluster has no IAM listener (not retriable: IAM client authentication is off).
 */
export async function getIamBootstrapBrokers(
  client: KafkaClient,
  clusterArn: string,
  abortSignal?: AbortSignal,
): Promise<string[]> {
  let brokerString: string | undefined;
  try {
    const response = await client.send(
      new GetBootstrapBrokersCommand({ ClusterArn: clusterArn }),
      abortSignal === undefined ? {} : { abortSignal },
    );
    brokerString = response.BootstrapBrokerStringSaslIam;
  } catch (error: unknown) {
    throw new BootstrapBrokersError(`GetBootstrapBrokers failed for ${clusterArn}`, clusterArn, {
      cause: error,
      retriable: isTransientAwsError(error),
    });
  }
  const brokers = parseBrokerString(brokerString ?? '');
  if (brokers.length === 0) {
    throw new BootstrapBrokersError(
      `Cluster ${clusterArn} has no IAM bootstrap brokers: is IAM client authentication enabled?`,
      clusterArn,
    );
  }
  return brokers;
}
