import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  type Cluster,
  DescribeClusterV2Command,
  type KafkaClient,
  ListNodesCommand,
  type NodeInfo,
} from '@aws-sdk/client-kafka';
import { mskClusterArnOf } from '../aws/arn.js';
import { BROKER_HEALTH_METRIC_NAMES, DIMENSIONS, ENV } from '../contracts/index.js';
import { type Environment, positiveIntegerVariable, requiredVariable } from './environment.js';
import { ControlPlaneError, HealthCheckConfigError } from './errors.js';
import { type ControlPlaneReads, readControlPlane, runHealthCheck, startReads } from './healthCheck.js';
import type { HealthCheckDependencies, HealthMetrics } from './types.js';

/** Metric names, in the `CustomerDataPlatform` namespace with the {@link CLUSTER_NAME_DIMENSION} dimension. */
export const BROKER_HEALTH_METRICS = BROKER_HEALTH_METRIC_NAMES;

export const CLUSTER_NAME_DIMENSION = DIMENSIONS.clusterName;

/**
 * States in which MSK serves clients and nothing is known to be impaired beyond a planned rolling
 * operation (our own update, MSK's patching). HEALING means MSK is replacing an impaired broker and
 * REBOOTING_BROKER that a broker is down right now: both count as unhealthy, as does every state that
 * does not serve (CREATING, DELETING, FAILED) or that this code does not know yet.
 */
export const SERVING_STATES: ReadonlySet<string> = new Set(['ACTIVE', 'MAINTENANCE', 'UPDATING']);

/** The state reported when the control plane could not be read. */
export const UNKNOWN_STATE = 'UNKNOWN';

/** ListNodes accepts at most 100 per page. */
export const LIST_NODES_PAGE_SIZE = 100;
/** Guards against a NextToken that never ends; far more brokers than an MSK cluster can have. */
const MAX_LIST_NODES_PAGES = 10;

/** Brokers whose client subnet is not reported. */
const UNKNOWN_SUBNET = 'unknown';

export interface BrokerHealthConfig {
  readonly clusterArn: string;
  /** Brokers the platform deployed; fewer listed means a broker is gone. */
  readonly expectedBrokers: number;
}

export interface BrokerHealthReport {
  readonly clusterArn: string;
  readonly clusterName: string;
  /** MSK cluster state, or `UNKNOWN` when the control plane could not be read. */
  readonly state: string;
  readonly healthy: boolean;
  /** Why the cluster is unhealthy; empty when it is healthy. */
  readonly reasons: readonly string[];
  readonly brokersExpected: number;
  /** 0 when the control plane could not be read (see `reasons`). */
  readonly brokersListed: number;
  /**
   * Brokers per client subnet. MSK places one client subnet in each AZ and ListNodes names a broker's
   * subnet, not its AZ, so the subnet stands for the AZ. Subnets of the cluster without brokers show 0.
   */
  readonly brokersPerAz: Readonly<Record<string, number>>;
  /** ISO 8601. */
  readonly checkedAt: string;
}

export type BrokerHealthDependencies = HealthCheckDependencies<KafkaClient>;

/**
 * The cluster name, the metric dimension. Taken from the ARN so that it is known even when the control
 * plane is not.
 *
 * @throws {HealthCheckConfigError} when the ARN is not an MSK cluster ARN.
 */
export function clusterNameOf(clusterArn: string): string {
  const name = mskClusterArnOf(clusterArn)?.clusterName;
  if (name === undefined) {
    throw new HealthCheckConfigError(`"${clusterArn}" is not an MSK cluster ARN`, {
      context: { clusterArn },
    });
  }
  return name;
}

/**
 * Reads `CLUSTER_ARN` and `EXPECTED_BROKERS`.
 *
 * @throws {HealthCheckConfigError} naming the missing or invalid variable.
 */
export function brokerHealthConfigFrom(env: Environment): BrokerHealthConfig {
  const clusterArn = requiredVariable(env, ENV.clusterArn);
  clusterNameOf(clusterArn);
  return { clusterArn, expectedBrokers: positiveIntegerVariable(env, ENV.expectedBrokers) };
}

interface Reads extends ControlPlaneReads<KafkaClient> {
  readonly clusterArn: string;
}

async function describeCluster({ policy, deadline, deps, clusterArn }: Reads): Promise<Cluster> {
  const request = { operation: 'DescribeClusterV2', resource: clusterArn, deadline };
  const response = await readControlPlane(policy, request, (abortSignal) =>
    deps.client.send(new DescribeClusterV2Command({ ClusterArn: clusterArn }), { abortSignal }),
  );
  if (response.ClusterInfo === undefined) {
    throw new ControlPlaneError(
      `DescribeClusterV2 returned no cluster for ${clusterArn}`,
      request.operation,
      'not-found',
      {
        resource: clusterArn,
      },
    );
  }
  return response.ClusterInfo;
}

async function listNodes({ policy, deadline, deps, clusterArn }: Reads): Promise<NodeInfo[]> {
  const request = { operation: 'ListNodes', resource: clusterArn, deadline };
  const nodes: NodeInfo[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_LIST_NODES_PAGES; page += 1) {
    const response = await readControlPlane(policy, request, (abortSignal) =>
      deps.client.send(
        new ListNodesCommand({
          ClusterArn: clusterArn,
          MaxResults: LIST_NODES_PAGE_SIZE,
          ...(nextToken === undefined ? {} : { NextToken: nextToken }),
        }),
        { abortSignal },
      ),
    );
    nodes.push(...(response.NodeInfoList ?? []));
    nextToken = response.NextToken === '' ? undefined : response.NextToken;
    if (nextToken === undefined) return nodes;
  }
  deps.logger.warn('ListNodes kept paging; assessing the brokers read so far', {
    pages: MAX_LIST_NODES_PAGES,
  });
  return nodes;
}

/** Distinct brokers per client subnet, starting from the cluster's subnets so that an empty one shows. */
function brokersPerSubnet(cluster: Cluster, nodes: readonly NodeInfo[]): Record<string, number> {
  const perSubnet: Record<string, number> = {};
  for (const subnet of cluster.Provisioned?.BrokerNodeGroupInfo?.ClientSubnets ?? []) perSubnet[subnet] = 0;
  const seen = new Set<number>();
  for (const node of nodes) {
    const broker = node.BrokerNodeInfo;
    // Nodes without broker details (controllers) and repeated ids do not count as brokers.
    if (broker?.BrokerId === undefined || seen.has(broker.BrokerId)) continue;
    seen.add(broker.BrokerId);
    const subnet = broker.ClientSubnet ?? UNKNOWN_SUBNET;
    perSubnet[subnet] = (perSubnet[subnet] ?? 0) + 1;
  }
  return perSubnet;
}

function assess(
  config: BrokerHealthConfig,
  cluster: Cluster,
  nodes: readonly NodeInfo[],
): Pick<BrokerHealthReport, 'state' | 'healthy' | 'reasons' | 'brokersListed' | 'brokersPerAz'> {
  const state = cluster.State ?? UNKNOWN_STATE;
  const brokersPerAz = brokersPerSubnet(cluster, nodes);
  const brokersListed = Object.values(brokersPerAz).reduce((sum, n) => sum + n, 0);
  const configured = cluster.Provisioned?.NumberOfBrokerNodes;
  const required = Math.max(config.expectedBrokers, configured ?? 0);
  const reasons: string[] = [];

  if (!SERVING_STATES.has(state)) {
    const info = cluster.StateInfo;
    const detail = [info?.Code, info?.Message].filter((part) => part !== undefined && part !== '').join(': ');
    reasons.push(`cluster state is ${state}${detail === '' ? '' : ` (${detail})`}`);
  }
  if (configured !== undefined && configured < config.expectedBrokers) {
    reasons.push(`cluster is configured with ${configured} brokers, ${config.expectedBrokers} expected`);
  }
  if (brokersListed < required) {
    const subnets = Object.keys(brokersPerAz).filter((subnet) => subnet !== UNKNOWN_SUBNET);
    const perSubnet = subnets.length > 0 && required % subnets.length === 0 ? required / subnets.length : 0;
    const short = subnets.filter((subnet) => (brokersPerAz[subnet] ?? 0) < perSubnet);
    const where = short.length > 0 ? ` (short in ${short.join(', ')})` : '';
    reasons.push(`${brokersListed} of ${required} brokers listed${where}`);
  }
  return { state, healthy: reasons.length === 0, reasons, brokersListed, brokersPerAz };
}

function publish(report: BrokerHealthReport, metrics: HealthMetrics, brokersKnown: boolean): void {
  metrics.addDimension(CLUSTER_NAME_DIMENSION, report.clusterName);
  metrics.addMetric(BROKER_HEALTH_METRICS.healthy, MetricUnit.Count, report.healthy ? 1 : 0);
  metrics.addMetric(BROKER_HEALTH_METRICS.stateActive, MetricUnit.Count, report.state === 'ACTIVE' ? 1 : 0);
  metrics.addMetric(BROKER_HEALTH_METRICS.brokersExpected, MetricUnit.Count, report.brokersExpected);
  // Unknown is not zero: a "brokers missing" alarm must not fire because the API was slow.
  if (brokersKnown)
    metrics.addMetric(BROKER_HEALTH_METRICS.brokersListed, MetricUnit.Count, report.brokersListed);
  metrics.publishStoredMetrics();
}

/**
 * Checks the MSK cluster through its control plane (DescribeClusterV2, then ListNodes), publishes the
 * result as metrics and returns it. A control plane that cannot be read, or says the cluster does not
 * exist, yields an unhealthy report (and `ClusterHealthy` 0), because a check that throws tells nobody.
 *
 * @throws {HealthCheckConfigError} when the check itself is misconfigured: an invalid ARN, a denied
 *   permission, a request the API rejects.
 * @throws {TypeError|RangeError} on a bug in the check.
 */
export async function checkBrokerHealth(
  config: BrokerHealthConfig,
  deps: BrokerHealthDependencies,
): Promise<BrokerHealthReport> {
  const clusterName = clusterNameOf(config.clusterArn);
  const reads: Reads = { ...startReads(deps), clusterArn: config.clusterArn };
  const base = { clusterArn: config.clusterArn, clusterName, brokersExpected: config.expectedBrokers };
  const checkedAt = deps.now().toISOString();
  return runHealthCheck(deps, {
    subject: 'MSK cluster',
    unreadableMessage: 'MSK control plane unreadable; reporting the cluster unhealthy',
    read: async () => {
      const cluster = await describeCluster(reads);
      const nodes = await listNodes(reads);
      return { ...base, ...assess(config, cluster, nodes), checkedAt };
    },
    unreadable: (error) => ({
      ...base,
      state: UNKNOWN_STATE,
      healthy: false,
      reasons: [error.message],
      brokersListed: 0,
      brokersPerAz: {},
      checkedAt,
    }),
    publish,
  });
}
