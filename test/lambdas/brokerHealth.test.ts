import {
  type Cluster,
  type ClusterState,
  DescribeClusterV2Command,
  ForbiddenException,
  KafkaClient,
  ListNodesCommand,
  NotFoundException,
  ServiceUnavailableException,
} from '@aws-sdk/client-kafka';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { handler } from '../../lambdas/broker-health/handler.js';
import {
  type BrokerHealthDependencies,
  brokerHealthConfigFrom,
  checkBrokerHealth,
  clusterNameOf,
  LIST_NODES_PAGE_SIZE,
} from '../../lambdas/shared/health/brokerHealth.js';
import { HealthCheckConfigError } from '../../lambdas/shared/health/errors.js';
import { type Emf, valuesOf } from '../support/emf.js';
import {
  expectOneHealthDocument,
  FAST_HEALTH_CHECK_SETTINGS,
  healthCheckDependencies,
  scheduledInvocation,
} from '../support/healthChecks.js';

const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-dev/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab-2';
const SUBNETS = ['subnet-a', 'subnet-b', 'subnet-c'];
const NOW = new Date('2026-11-02T10:00:00.000Z');

const kafkaMock = mockClient(KafkaClient);

function dependencies(): BrokerHealthDependencies & { published: Emf[] } {
  return healthCheckDependencies('broker-health', new KafkaClient({ region: 'eu-west-1' }), NOW);
}

const config = { clusterArn: CLUSTER_ARN, expectedBrokers: 3 };

function cluster(state: ClusterState, numberOfBrokerNodes = 3): { ClusterInfo: Cluster } {
  return {
    ClusterInfo: {
      ClusterArn: CLUSTER_ARN,
      ClusterName: 'cdp-dev',
      ClusterType: 'PROVISIONED',
      State: state,
      Provisioned: {
        NumberOfBrokerNodes: numberOfBrokerNodes,
        BrokerNodeGroupInfo: { ClientSubnets: SUBNETS, InstanceType: 'kafka.m7g.large' },
      },
    },
  };
}

/** ListNodes entries for brokers `ids`, broker n in subnet n-1 modulo the three subnets. */
const nodes = (ids: readonly number[]) => ({
  NodeInfoList: ids.map((id) => ({
    NodeType: 'BROKER' as const,
    NodeARN: `arn:aws:kafka:eu-west-1:111111111111:broker/cdp-dev/${id}`,
    BrokerNodeInfo: { BrokerId: id, ClientSubnet: SUBNETS[(id - 1) % SUBNETS.length] },
  })),
});

const unavailable = (): ServiceUnavailableException =>
  new ServiceUnavailableException({ message: 'Service Unavailable', $metadata: { httpStatusCode: 503 } });

beforeEach(() => {
  kafkaMock.reset();
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('checkBrokerHealth', () => {
  it('reports an ACTIVE cluster with 3 brokers over 3 AZs healthy and publishes its metrics', async () => {
    // Prepare
    kafkaMock.on(DescribeClusterV2Command).resolves(cluster('ACTIVE'));
    kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3]));
    const deps = dependencies();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(report).toEqual({
      clusterArn: CLUSTER_ARN,
      clusterName: 'cdp-dev',
      state: 'ACTIVE',
      healthy: true,
      reasons: [],
      brokersExpected: 3,
      brokersListed: 3,
      brokersPerAz: { 'subnet-a': 1, 'subnet-b': 1, 'subnet-c': 1 },
      checkedAt: '2026-11-02T10:00:00.000Z',
    });
    const emf = expectOneHealthDocument(deps.published, 'ClusterName', 'cdp-dev');
    expect(valuesOf(emf)).toEqual({
      ClusterHealthy: 1,
      ClusterStateActive: 1,
      BrokersExpected: 3,
      BrokersListed: 3,
    });
  });

  it('describes the cluster and lists its nodes with exactly these requests', async () => {
    // Prepare
    kafkaMock.on(DescribeClusterV2Command).resolves(cluster('ACTIVE'));
    kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3]));

    // Act
    await checkBrokerHealth(config, dependencies());

    // Assess
    expect(kafkaMock.commandCalls(DescribeClusterV2Command)).toHaveLength(1);
    expect(kafkaMock.commandCalls(DescribeClusterV2Command)[0]?.args[0].input).toEqual({
      ClusterArn: CLUSTER_ARN,
    });
    expect(kafkaMock.commandCalls(ListNodesCommand)).toHaveLength(1);
    expect(kafkaMock.commandCalls(ListNodesCommand)[0]?.args[0].input).toEqual({
      ClusterArn: CLUSTER_ARN,
      MaxResults: LIST_NODES_PAGE_SIZE,
    });
  });

  it('follows NextToken until every broker is listed', async () => {
    // Prepare
    kafkaMock.on(DescribeClusterV2Command).resolves(cluster('ACTIVE'));
    kafkaMock
      .on(ListNodesCommand)
      .resolvesOnce({ ...nodes([1, 2]), NextToken: 'page-2' })
      .resolvesOnce(nodes([3]));

    // Act
    const report = await checkBrokerHealth(config, dependencies());

    // Assess
    expect(report.healthy).toBe(true);
    expect(report.brokersListed).toBe(3);
    expect(kafkaMock.commandCalls(ListNodesCommand)[1]?.args[0].input).toEqual({
      ClusterArn: CLUSTER_ARN,
      MaxResults: LIST_NODES_PAGE_SIZE,
      NextToken: 'page-2',
    });
  });

  it('reports a missing broker unhealthy with brokersListed 2 and names the AZ that lost it', async () => {
    // Prepare
    kafkaMock.on(DescribeClusterV2Command).resolves(cluster('ACTIVE'));
    kafkaMock.on(ListNodesCommand).resolves(nodes([1, 3]));
    const deps = dependencies();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.brokersListed).toBe(2);
    expect(report.brokersPerAz).toEqual({ 'subnet-a': 1, 'subnet-b': 0, 'subnet-c': 1 });
    expect(report.reasons).toEqual(['2 of 3 brokers listed (short in subnet-b)']);
    expect(valuesOf(deps.published[0])).toEqual({
      ClusterHealthy: 0,
      ClusterStateActive: 1,
      BrokersExpected: 3,
      BrokersListed: 2,
    });
  });

  it('reports a HEALING cluster unhealthy, with MSK’s own reason, even when every broker is listed', async () => {
    // Prepare
    const healing = cluster('HEALING');
    healing.ClusterInfo.StateInfo = { Code: 'BROKER_REPLACEMENT', Message: 'Replacing broker 2' };
    kafkaMock.on(DescribeClusterV2Command).resolves(healing);
    kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3]));
    const deps = dependencies();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.state).toBe('HEALING');
    expect(report.reasons).toEqual(['cluster state is HEALING (BROKER_REPLACEMENT: Replacing broker 2)']);
    expect(valuesOf(deps.published[0])).toMatchObject({ ClusterHealthy: 0, ClusterStateActive: 0 });
  });

  it.each(['MAINTENANCE', 'UPDATING'] as const)(
    'keeps a cluster in planned %s healthy while ClusterStateActive shows it is not ACTIVE',
    async (state) => {
      // Prepare
      kafkaMock.on(DescribeClusterV2Command).resolves(cluster(state));
      kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3]));
      const deps = dependencies();

      // Act
      const report = await checkBrokerHealth(config, deps);

      // Assess
      expect(report.healthy).toBe(true);
      expect(valuesOf(deps.published[0])).toMatchObject({ ClusterHealthy: 1, ClusterStateActive: 0 });
    },
  );

  it.each(['REBOOTING_BROKER', 'FAILED', 'CREATING', 'DELETING'] as const)(
    'reports a cluster in %s unhealthy',
    async (state) => {
      // Prepare
      kafkaMock.on(DescribeClusterV2Command).resolves(cluster(state));
      kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3]));

      // Act
      const report = await checkBrokerHealth(config, dependencies());

      // Assess
      expect(report.healthy).toBe(false);
      expect(report.reasons).toEqual([`cluster state is ${state}`]);
    },
  );

  it('expects the brokers the cluster says it has when that is more than configured', async () => {
    // Prepare: scaled out to 6, one of them missing
    kafkaMock.on(DescribeClusterV2Command).resolves(cluster('ACTIVE', 6));
    kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3, 4, 5]));

    // Act
    const report = await checkBrokerHealth(config, dependencies());

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual(['5 of 6 brokers listed (short in subnet-c)']);
  });

  it('absorbs a ServiceUnavailable answer with a retry', async () => {
    // Prepare
    kafkaMock.on(DescribeClusterV2Command).rejectsOnce(unavailable()).resolves(cluster('ACTIVE'));
    kafkaMock
      .on(ListNodesCommand)
      .rejectsOnce(unavailable())
      .resolves(nodes([1, 2, 3]));
    const deps = dependencies();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(true);
    expect(kafkaMock.commandCalls(DescribeClusterV2Command)).toHaveLength(2);
    expect(kafkaMock.commandCalls(ListNodesCommand)).toHaveLength(2);
    expect(valuesOf(deps.published[0])).toMatchObject({ ClusterHealthy: 1 });
  });

  it('reports the cluster unhealthy and still publishes ClusterHealthy=0 when the control plane stays down', async () => {
    // Prepare
    kafkaMock.on(DescribeClusterV2Command).rejects(unavailable());
    const deps = dependencies();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(report).toMatchObject({
      clusterName: 'cdp-dev',
      state: 'UNKNOWN',
      healthy: false,
      brokersExpected: 3,
      brokersListed: 0,
      brokersPerAz: {},
    });
    expect(report.reasons).toEqual([`DescribeClusterV2 on ${CLUSTER_ARN} failed: Service Unavailable`]);
    expect(kafkaMock.commandCalls(DescribeClusterV2Command)).toHaveLength(3);
    expect(kafkaMock.commandCalls(ListNodesCommand)).toHaveLength(0);
    expect(deps.published[0]?.ClusterName).toBe('cdp-dev');
    // Unknown is not zero: BrokersListed is left out rather than reported as 0.
    expect(valuesOf(deps.published[0])).toEqual({
      ClusterHealthy: 0,
      ClusterStateActive: 0,
      BrokersExpected: 3,
    });
  });

  it('reports the cluster unhealthy within the check budget when the control plane hangs', async () => {
    // Prepare: every attempt hangs; the budget cuts the retries short
    kafkaMock.on(DescribeClusterV2Command).callsFake(() => new Promise(() => undefined));
    const deps = {
      ...dependencies(),
      settings: {
        ...FAST_HEALTH_CHECK_SETTINGS,
        attemptTimeoutMillis: 50,
        retries: 100,
        checkBudgetMillis: 300,
      },
    };
    const started = performance.now();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual([`DescribeClusterV2 on ${CLUSTER_ARN} timed out`]);
    expect(kafkaMock.commandCalls(DescribeClusterV2Command).length).toBeLessThan(10);
    expect(valuesOf(deps.published[0])).toMatchObject({ ClusterHealthy: 0 });
  });

  it('reports a cluster the control plane does not know unhealthy without retrying', async () => {
    // Prepare
    kafkaMock
      .on(DescribeClusterV2Command)
      .rejects(new NotFoundException({ message: 'Cluster not found', $metadata: { httpStatusCode: 404 } }));
    const deps = dependencies();

    // Act
    const report = await checkBrokerHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual([`DescribeClusterV2 on ${CLUSTER_ARN} failed: Cluster not found`]);
    expect(kafkaMock.commandCalls(DescribeClusterV2Command)).toHaveLength(1);
    expect(valuesOf(deps.published[0])).toMatchObject({ ClusterHealthy: 0 });
  });

  it('throws when the function may not read the cluster, and publishes nothing', async () => {
    // Prepare
    kafkaMock
      .on(DescribeClusterV2Command)
      .rejects(new ForbiddenException({ message: 'not authorized', $metadata: { httpStatusCode: 403 } }));
    const deps = dependencies();

    // Act
    const check = checkBrokerHealth(config, deps);

    // Assess
    await expect(check).rejects.toThrow(HealthCheckConfigError);
    await expect(check).rejects.toMatchObject({
      retriable: false,
      context: { operation: 'DescribeClusterV2' },
    });
    expect(kafkaMock.commandCalls(DescribeClusterV2Command)).toHaveLength(1);
    expect(deps.published).toEqual([]);
  });
});

describe('brokerHealthConfigFrom', () => {
  it('reads the cluster ARN and the expected broker count', () => {
    // Act
    const parsed = brokerHealthConfigFrom({ CLUSTER_ARN, EXPECTED_BROKERS: '6' });

    // Assess
    expect(parsed).toEqual({ clusterArn: CLUSTER_ARN, expectedBrokers: 6 });
    expect(clusterNameOf(CLUSTER_ARN)).toBe('cdp-dev');
  });

  it.each([
    [{ EXPECTED_BROKERS: '3' }, /CLUSTER_ARN is required/],
    [{ CLUSTER_ARN }, /EXPECTED_BROKERS is required/],
    [{ CLUSTER_ARN, EXPECTED_BROKERS: 'three' }, /EXPECTED_BROKERS must be a positive integer/],
    [{ CLUSTER_ARN, EXPECTED_BROKERS: '0' }, /EXPECTED_BROKERS must be a positive integer/],
    [{ CLUSTER_ARN: 'cdp-dev', EXPECTED_BROKERS: '3' }, /"cdp-dev" is not an MSK cluster ARN/],
  ])('refuses %o', (env, message) => {
    // Act
    const parse = (): unknown => brokerHealthConfigFrom(env);

    // Assess
    expect(parse).toThrow(HealthCheckConfigError);
    expect(parse).toThrow(message);
  });
});

describe('broker-health handler', () => {
  const { event, context } = scheduledInvocation('broker-health', 'c0ffee00-0000-4000-8000-000000000000');

  it('returns the report of the cluster named in its environment', async () => {
    // Prepare
    vi.stubEnv('CLUSTER_ARN', CLUSTER_ARN);
    vi.stubEnv('EXPECTED_BROKERS', '3');
    kafkaMock.on(DescribeClusterV2Command).resolves(cluster('ACTIVE'));
    kafkaMock.on(ListNodesCommand).resolves(nodes([1, 2, 3]));

    // Act
    const report = await handler(event, context);

    // Assess
    expect(report).toMatchObject({ clusterArn: CLUSTER_ARN, healthy: true, brokersListed: 3 });
  });

  it('throws without calling AWS when EXPECTED_BROKERS is missing', async () => {
    // Prepare
    vi.stubEnv('CLUSTER_ARN', CLUSTER_ARN);
    vi.stubEnv('EXPECTED_BROKERS', '');

    // Act
    const invocation = handler(event, context);

    // Assess
    await expect(invocation).rejects.toThrow(/EXPECTED_BROKERS is required/);
    expect(kafkaMock.calls()).toHaveLength(0);
  });
});
