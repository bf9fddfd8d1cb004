import { Stack } from 'aws-cdk-lib';
import { acknowledge } from '../nag.js';
import type { KafkaCluster } from './KafkaCluster.js';
import type { PlatformFunction } from './PlatformFunction.js';

/** The wildcard of a read with throw-away consumer groups ({@link KafkaCluster.grantReadWithGroupPrefix}). */
export function acknowledgeGroupPrefix(
  fn: PlatformFunction,
  cluster: KafkaCluster,
  groupPrefix: string,
): void {
  const { clusterName } = cluster;
  const { region, account } = Stack.of(fn);
  acknowledge(fn, {
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kafka:${region}:${account}:group/${clusterName}/*/${groupPrefix}-*]`,
    reason:
      `Each read joins a consumer group of its own, ${groupPrefix}-<uuid>, and commits nothing, so concurrent ` +
      "reads never share partitions and the consumer's offsets are never touched; the group names are only " +
      `known at run time. The grant covers groups of that prefix on the ${clusterName} cluster only (any ` +
      'incarnation of its name), DescribeGroup and AlterGroup only; topic reads name the exact topic ARN',
  });
}
