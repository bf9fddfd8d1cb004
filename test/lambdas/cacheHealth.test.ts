import {
  DescribeEventsCommand,
  DescribeReplicationGroupsCommand,
  ElastiCacheClient,
  ElastiCacheServiceException,
  type NodeGroupMember,
  type ReplicationGroup,
  ReplicationGroupNotFoundFault,
} from '@aws-sdk/client-elasticache';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

import { handler } from '../../lambdas/cache-health/handler.js';
import {
  type CacheHealthDependencies,
  cacheHealthConfigFrom,
  checkCacheHealth,
  EVENTS_PAGE_SIZE,
} from '../../lambdas/shared/health/cacheHealth.js';
import { HealthCheckConfigError } from '../../lambdas/shared/health/errors.js';
import { type Emf, valuesOf } from '../support/emf.js';
import {
  expectOneHealthDocument,
  healthCheckDependencies,
  scheduledInvocation,
} from '../support/healthChecks.js';

const GROUP_ID = 'cdp-prod-index';
const MEMBERS = ['cdp-prod-index-001', 'cdp-prod-index-002', 'cdp-prod-index-003'];
const NOW = new Date('2026-11-02T10:00:00.000Z');
const HOUR_AGO = new Date('2026-11-02T09:00:00.000Z');

const cacheMock = mockClient(ElastiCacheClient);

function dependencies(): CacheHealthDependencies & { published: Emf[] } {
  return healthCheckDependencies('cache-health', new ElastiCacheClient({ region: 'eu-west-1' }), NOW);
}

const config = { replicationGroupId: GROUP_ID, eventLookbackMinutes: 60 };

const member = (id: string, role: 'primary' | 'replica', az: string): NodeGroupMember => ({
  CacheClusterId: id,
  CacheNodeId: '0001',
  CurrentRole: role,
  PreferredAvailabilityZone: az,
  ReadEndpoint: { Address: `${id}.abc.euw1.cache.amazonaws.com`, Port: 6379 },
});

/** A cluster-mode-disabled group as the platform deploys it: one node group, primary in 1a. */
function group(overrides: Partial<ReplicationGroup> = {}, members?: NodeGroupMember[]) {
  const replicationGroup: ReplicationGroup = {
    ReplicationGroupId: GROUP_ID,
    Status: 'available',
    MultiAZ: 'enabled',
    AutomaticFailover: 'enabled',
    MemberClusters: MEMBERS,
    NodeGroups: [
      {
        NodeGroupId: '0001',
        Status: 'available',
        PrimaryEndpoint: { Address: `master.${GROUP_ID}.abc.euw1.cache.amazonaws.com`, Port: 6379 },
        NodeGroupMembers: members ?? [
          member('cdp-prod-index-001', 'primary', 'eu-west-1a'),
          member('cdp-prod-index-002', 'replica', 'eu-west-1b'),
          member('cdp-prod-index-003', 'replica', 'eu-west-1c'),
        ],
      },
    ],
    ...overrides,
  };
  return { ReplicationGroups: [replicationGroup] };
}

const throttled = (): ElastiCacheServiceException =>
  new ElastiCacheServiceException({
    name: 'Throttling',
    $fault: 'client',
    message: 'Rate exceeded',
    $metadata: { httpStatusCode: 400 },
  });

const unavailable = (): ElastiCacheServiceException =>
  new ElastiCacheServiceException({
    name: 'ServiceUnavailable',
    $fault: 'server',
    message: 'Service is unavailable',
    $metadata: { httpStatusCode: 503 },
  });

beforeEach(() => {
  cacheMock.reset();
  cacheMock.on(DescribeEventsCommand).resolves({ Events: [] });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('checkCacheHealth', () => {
  it('reports an available group with a primary and 2 replicas in distinct AZs healthy and publishes its metrics', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).resolves(group());
    const deps = dependencies();

    // Act
    const report = await checkCacheHealth(config, deps);

    // Assess
    expect(report).toEqual({
      replicationGroupId: GROUP_ID,
      status: 'available',
      healthy: true,
      reasons: [],
      primaryAz: 'eu-west-1a',
      replicas: 2,
      replicaAzs: ['eu-west-1b', 'eu-west-1c'],
      multiAz: true,
      automaticFailover: true,
      recentFailovers: [],
      failoverEventsRead: true,
      checkedAt: '2026-11-02T10:00:00.000Z',
    });
    const emf = expectOneHealthDocument(deps.published, 'ReplicationGroupId', GROUP_ID);
    expect(valuesOf(emf)).toEqual({ CacheHealthy: 1, CacheReplicas: 2, CacheFailoversRecent: 0 });
  });

  it('describes the group, then reads the last hour of events of the group and of each member', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).resolves(group());

    // Act
    await checkCacheHealth(config, dependencies());

    // Assess
    expect(cacheMock.commandCalls(DescribeReplicationGroupsCommand)).toHaveLength(1);
    expect(cacheMock.commandCalls(DescribeReplicationGroupsCommand)[0]?.args[0].input).toEqual({
      ReplicationGroupId: GROUP_ID,
    });
    const window = { StartTime: HOUR_AGO, EndTime: NOW, MaxRecords: EVENTS_PAGE_SIZE };
    expect(cacheMock.commandCalls(DescribeEventsCommand).map((call) => call.args[0].input)).toEqual([
      { SourceType: 'replication-group', SourceIdentifier: GROUP_ID, ...window },
      ...MEMBERS.map((id) => ({ SourceType: 'cache-cluster', SourceIdentifier: id, ...window })),
    ]);
  });

  it('counts a recent failover and reports the AZ of the new primary', async () => {
    // Prepare: 001 (1a) failed over to 002 (1b)
    cacheMock
      .on(DescribeReplicationGroupsCommand)
      .resolves(
        group({}, [
          member('cdp-prod-index-001', 'replica', 'eu-west-1a'),
          member('cdp-prod-index-002', 'primary', 'eu-west-1b'),
          member('cdp-prod-index-003', 'replica', 'eu-west-1c'),
        ]),
      );
    cacheMock.on(DescribeEventsCommand, { SourceIdentifier: 'cdp-prod-index-001' }).resolves({
      Events: [
        {
          SourceIdentifier: 'cdp-prod-index-001',
          SourceType: 'cache-cluster',
          Date: new Date('2026-11-02T09:41:00.000Z'),
          Message:
            'Failover from primary node cdp-prod-index-001 to replica node cdp-prod-index-002 completed',
        },
        {
          SourceIdentifier: 'cdp-prod-index-001',
          SourceType: 'cache-cluster',
          Date: new Date('2026-11-02T09:45:00.000Z'),
          Message: 'Recovering cache nodes 0001',
        },
      ],
    });
    const deps = dependencies();

    // Act
    const report = await checkCacheHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(true);
    expect(report.primaryAz).toBe('eu-west-1b');
    expect(report.replicaAzs).toEqual(['eu-west-1a', 'eu-west-1c']);
    expect(report.recentFailovers).toEqual([
      {
        at: '2026-11-02T09:41:00.000Z',
        message: 'Failover from primary node cdp-prod-index-001 to replica node cdp-prod-index-002 completed',
      },
    ]);
    expect(valuesOf(deps.published[0])).toEqual({
      CacheHealthy: 1,
      CacheReplicas: 2,
      CacheFailoversRecent: 1,
    });
  });

  it('matches failover messages whatever their case, lists them newest first and counts a repeated one once', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).resolves(group());
    const completed = {
      Date: new Date('2026-11-02T09:30:00.000Z'),
      Message: 'FAILOVER to replica node 002 completed',
    };
    cacheMock.on(DescribeEventsCommand, { SourceType: 'replication-group' }).resolves({
      Events: [
        {
          Date: new Date('2026-11-02T09:28:00.000Z'),
          Message: 'Test Failover API called for node group 0001',
        },
      ],
    });
    cacheMock
      .on(DescribeEventsCommand, { SourceIdentifier: 'cdp-prod-index-001' })
      .resolves({ Events: [completed] });
    cacheMock
      .on(DescribeEventsCommand, { SourceIdentifier: 'cdp-prod-index-002' })
      .resolves({ Events: [completed] });

    // Act
    const report = await checkCacheHealth(config, dependencies());

    // Assess
    expect(report.recentFailovers).toEqual([
      { at: '2026-11-02T09:30:00.000Z', message: 'FAILOVER to replica node 002 completed' },
      { at: '2026-11-02T09:28:00.000Z', message: 'Test Failover API called for node group 0001' },
    ]);
  });

  it.each(['modifying', 'snapshotting'])('keeps a group that is %s healthy', async (status) => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).resolves(group({ Status: status }));

    // Act
    const report = await checkCacheHealth(config, dependencies());

    // Assess
    expect(report.status).toBe(status);
    expect(report.healthy).toBe(true);
  });

  it.each(['create-failed', 'deleting', 'creating'])(
    'reports a group that is %s unhealthy',
    async (status) => {
      // Prepare
      cacheMock.on(DescribeReplicationGroupsCommand).resolves(group({ Status: status }));
      const deps = dependencies();

      // Act
      const report = await checkCacheHealth(config, deps);

      // Assess
      expect(report.healthy).toBe(false);
      expect(report.reasons).toEqual([`replication group status is ${status}`]);
      expect(valuesOf(deps.published[0])).toMatchObject({ CacheHealthy: 0 });
    },
  );

  it('reports a group without replicas unhealthy: there is nothing to fail over to', async () => {
    // Prepare
    cacheMock
      .on(DescribeReplicationGroupsCommand)
      .resolves(
        group({ MemberClusters: ['cdp-prod-index-001'] }, [
          member('cdp-prod-index-001', 'primary', 'eu-west-1a'),
        ]),
      );
    const deps = dependencies();

    // Act
    const report = await checkCacheHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.replicas).toBe(0);
    expect(report.primaryAz).toBe('eu-west-1a');
    expect(report.reasons).toEqual(['0 replicas, at least 1 needed to fail over']);
    expect(valuesOf(deps.published[0])).toEqual({
      CacheHealthy: 0,
      CacheReplicas: 0,
      CacheFailoversRecent: 0,
    });
  });

  it('reports a group without a primary unhealthy', async () => {
    // Prepare: mid-failover, both remaining nodes are replicas
    cacheMock
      .on(DescribeReplicationGroupsCommand)
      .resolves(
        group({}, [
          member('cdp-prod-index-002', 'replica', 'eu-west-1b'),
          member('cdp-prod-index-003', 'replica', 'eu-west-1c'),
        ]),
      );

    // Act
    const report = await checkCacheHealth(config, dependencies());

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.primaryAz).toBeNull();
    expect(report.reasons).toEqual(['no primary node']);
  });

  it('absorbs throttling with a retry', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).rejectsOnce(throttled()).resolves(group());

    // Act
    const report = await checkCacheHealth(config, dependencies());

    // Assess
    expect(report.healthy).toBe(true);
    expect(cacheMock.commandCalls(DescribeReplicationGroupsCommand)).toHaveLength(2);
  });

  it('reports the cache unhealthy and still publishes CacheHealthy=0 when the control plane stays down', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).rejects(unavailable());
    const deps = dependencies();

    // Act
    const report = await checkCacheHealth(config, deps);

    // Assess
    expect(report).toMatchObject({
      status: 'unknown',
      healthy: false,
      primaryAz: null,
      replicas: 0,
      failoverEventsRead: false,
      reasons: [`DescribeReplicationGroups on ${GROUP_ID} failed: Service is unavailable`],
    });
    expect(cacheMock.commandCalls(DescribeReplicationGroupsCommand)).toHaveLength(3);
    expect(cacheMock.commandCalls(DescribeEventsCommand)).toHaveLength(0);
    // Unknown is not zero: replicas and failovers are left out rather than reported as 0.
    expect(valuesOf(deps.published[0])).toEqual({ CacheHealthy: 0 });
  });

  it('reports a replication group that does not exist unhealthy without retrying', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).rejects(
      new ReplicationGroupNotFoundFault({
        message: `ReplicationGroup ${GROUP_ID} not found.`,
        $metadata: { httpStatusCode: 404 },
      }),
    );

    // Act
    const report = await checkCacheHealth(config, dependencies());

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual([
      `DescribeReplicationGroups on ${GROUP_ID} failed: ReplicationGroup ${GROUP_ID} not found.`,
    ]);
    expect(cacheMock.commandCalls(DescribeReplicationGroupsCommand)).toHaveLength(1);
  });

  it('judges the group by its description when its events cannot be read, and leaves the failover count out', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).resolves(group());
    cacheMock.on(DescribeEventsCommand).rejects(unavailable());
    const deps = dependencies();

    // Act
    const report = await checkCacheHealth(config, deps);

    // Assess
    expect(report.healthy).toBe(true);
    expect(report.failoverEventsRead).toBe(false);
    expect(report.recentFailovers).toEqual([]);
    expect(valuesOf(deps.published[0])).toEqual({ CacheHealthy: 1, CacheReplicas: 2 });
  });

  it('throws when the function may not describe the group, and publishes nothing', async () => {
    // Prepare
    cacheMock.on(DescribeReplicationGroupsCommand).rejects(
      new ElastiCacheServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        message: 'not authorized to perform: elasticache:DescribeReplicationGroups',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    const deps = dependencies();

    // Act
    const check = checkCacheHealth(config, deps);

    // Assess
    await expect(check).rejects.toThrow(HealthCheckConfigError);
    expect(cacheMock.commandCalls(DescribeReplicationGroupsCommand)).toHaveLength(1);
    expect(deps.published).toEqual([]);
  });
});

describe('cacheHealthConfigFrom', () => {
  it('looks back 60 minutes unless told otherwise', () => {
    // Act
    const defaulted = cacheHealthConfigFrom({ REPLICATION_GROUP_ID: GROUP_ID });
    const explicit = cacheHealthConfigFrom({ REPLICATION_GROUP_ID: GROUP_ID, EVENT_LOOKBACK_MINUTES: '15' });

    // Assess
    expect(defaulted).toEqual({ replicationGroupId: GROUP_ID, eventLookbackMinutes: 60 });
    expect(explicit).toEqual({ replicationGroupId: GROUP_ID, eventLookbackMinutes: 15 });
  });

  it.each([
    [{}, /REPLICATION_GROUP_ID is required/],
    [{ REPLICATION_GROUP_ID: 'Not_A_Group' }, /"Not_A_Group" is not a replication group id/],
    [{ REPLICATION_GROUP_ID: GROUP_ID, EVENT_LOOKBACK_MINUTES: 'an hour' }, /must be a positive integer/],
    [{ REPLICATION_GROUP_ID: GROUP_ID, EVENT_LOOKBACK_MINUTES: '30000' }, /must be at most 20160/],
  ])('refuses %o', (env, message) => {
    // Act
    const parse = (): unknown => cacheHealthConfigFrom(env);

    // Assess
    expect(parse).toThrow(HealthCheckConfigError);
    expect(parse).toThrow(message);
  });
});

describe('cache-health handler', () => {
  const { event, context } = scheduledInvocation('cache-health', 'c0ffee00-0000-4000-8000-000000000001');

  it('returns the report of the replication group named in its environment', async () => {
    // Prepare
    vi.stubEnv('REPLICATION_GROUP_ID', GROUP_ID);
    cacheMock.on(DescribeReplicationGroupsCommand).resolves(group());

    // Act
    const report = await handler(event, context);

    // Assess
    expect(report).toMatchObject({ replicationGroupId: GROUP_ID, healthy: true, replicas: 2 });
  });

  it('throws without calling AWS when REPLICATION_GROUP_ID is missing', async () => {
    // Prepare
    vi.stubEnv('REPLICATION_GROUP_ID', '');

    // Act
    const invocation = handler(event, context);

    // Assess
    await expect(invocation).rejects.toThrow(/REPLICATION_GROUP_ID is required/);
    expect(cacheMock.calls()).toHaveLength(0);
  });
});
