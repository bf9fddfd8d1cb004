import { type ARN, parse, validate } from '@aws-sdk/util-arn-parser';

/** The partitions of AWS: `aws`, `aws-cn`, `aws-us-gov`, … */
const PARTITION = /^aws[a-z-]*$/;
const REGION = /^[a-z0-9-]+$/;
const ACCOUNT_ID = /^\d{12}$/;
/** An MSK cluster's resource, `cluster/<name>/<uuid>`: the name is read only from that full form. */
const MSK_CLUSTER = /^cluster\/.+/;
const MSK_CLUSTER_NAME = /^cluster\/([^/]+)\/.+$/;

/** The parts of `value` when it is an ARN in an AWS partition; undefined otherwise. */
export function awsArnOf(value: string): ARN | undefined {
  if (!validate(value)) return undefined;
  const arn = parse(value);
  return PARTITION.test(arn.partition) ? arn : undefined;
}

/** Whether `value` is an ARN of `service` in an AWS partition. */
export const isArnOf = (value: string, service: string): boolean => awsArnOf(value)?.service === service;

/** The region and name of an MSK cluster, from its ARN. */
export interface MskClusterArn {
  readonly region: string;
  /** Undefined when the resource is not of the full form `cluster/<name>/<uuid>`. */
  readonly clusterName: string | undefined;
}

/** The region and name of the MSK cluster `value` names; undefined when it is not an MSK cluster ARN. */
export function mskClusterArnOf(value: string): MskClusterArn | undefined {
  const arn = awsArnOf(value);
  if (arn?.service !== 'kafka' || !REGION.test(arn.region) || !ACCOUNT_ID.test(arn.accountId))
    return undefined;
  if (!MSK_CLUSTER.test(arn.resource)) return undefined;
  return { region: arn.region, clusterName: MSK_CLUSTER_NAME.exec(arn.resource)?.[1] };
}
