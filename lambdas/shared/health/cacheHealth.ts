import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  DescribeReplicationGroupsCommand,
  type ElastiCacheClient,
  type ReplicationGroup,
} from '@aws-sdk/client-elasticache';
import { CACHE_HEALTH_METRIC_NAMES, DIMENSIONS, ENV } from '../contracts/index.js';
import { type CacheReads, type RecentFailover, recentFailovers } from './cacheFailovers.js';
import { type Environment, positiveIntegerVariable, requiredVariable } from './environment.js';
import { ControlPlaneError, HealthCheckConfigError } from './errors.js';
import { readControlPlane, runHealthCheck, startReads } from './healthCheck.js';
import type { HealthCheckDependencies, HealthMetrics } from './types.js';

export { EVENTS_PAGE_SIZE, FAILOVER_MESSAGE, type RecentFailover } from './cacheFailovers.js';

/** Metric names, in the `CustomerDataPlatform` namespace with the {@link REPLICATION_GROUP_DIMENSION}. */
export const CACHE_HEALTH_METRICS = CACHE_HEALTH_METRIC_NAMES;

export const REPLICATION_GROUP_DIMENSION = DIMENSIONS.replicationGroupId;

/**
 * Statuses in which the group serves reads and writes: a modification or a snapshot runs beside the
 * traffic. `creating`, `deleting`, `create-failed` and any status not known here are unhealthy.
 */
export const SERVING_STATUSES: ReadonlySet<string> = new Set(['available', 'modifying', 'snapshotting']);

/** Without a replica there is nothing to fail over to. */
export const MIN_REPLICAS = 1;

/** The status reported when the control plane could not be read. */
export const UNKNOWN_STATUS = 'unknown';

export const DEFAULT_EVENT_LOOKBACK_MINUTES = 60;
/** ElastiCache keeps events for 14 days. */
export const MAX_EVENT_LOOKBACK_MINUTES = 14 * 24 * 60;

const MILLIS_PER_MINUTE = 60_000;
const REPLICATION_GROUP_ID = /^[a-z](-?[a-z0-9])*$/;
const MAX_REPLICATION_GROUP_ID_LENGTH = 40;

export interface CacheHealthConfig {
  readonly replicationGroupId: string;
  readonly eventLookbackMinutes: number;
}

export interface CacheHealthReport {
  readonly replicationGroupId: string;
  /** Replication group status, or `unknown` when the control plane could not be read. */
  readonly status: string;
  readonly healthy: boolean;
  /** Why the group is unhealthy; empty when it is healthy. */
  readonly reasons: readonly string[];
  /** AZ of the current primary (of the first node group); after a failover, the new primary's. */
  readonly primaryAz: string | null;
  readonly replicas: number;
  readonly replicaAzs: readonly string[];
  readonly multiAz: boolean;
  readonly automaticFailover: boolean;
  /** Newest first. Empty also when the events could not be read: see `failoverEventsRead`. */
  readonly recentFailovers: readonly RecentFailover[];
  readonly failoverEventsRead: boolean;
  /** ISO 8601. */
  readonly checkedAt: string;
}

export type CacheHealthDependencies = HealthCheckDependencies<ElastiCacheClient>;

/**
 * Reads `REPLICATION_GROUP_ID` and `EVENT_LOOKBACK_MINUTES` (default 60, at most 14 days).
 *
 * @throws {HealthCheckConfigError} naming the missing or invalid variable.
 */
export function cacheHealthConfigFrom(env: Environment): CacheHealthConfig {
  const replicationGroupId = requiredVariable(env, ENV.replicationGroupId);
  if (
    replicationGroupId.length > MAX_REPLICATION_GROUP_ID_LENGTH ||
    !REPLICATION_GROUP_ID.test(replicationGroupId)
  ) {
    throw new HealthCheckConfigError(`"${replicationGroupId}" is not a replication group id`, {
      context: { variable: ENV.replicationGroupId, value: replicationGroupId },
    });
  }
  const eventLookbackMinutes = positiveIntegerVariable(
    env,
    ENV.eventLookbackMinutes,
    DEFAULT_EVENT_LOOKBACK_MINUTES,
  );
  if (eventLookbackMinutes > MAX_EVENT_LOOKBACK_MINUTES) {
    throw new HealthCheckConfigError(
      `EVENT_LOOKBACK_MINUTES must be at most ${MAX_EVENT_LOOKBACK_MINUTES} (events are kept 14 days)`,
      { context: { variable: ENV.eventLookbackMinutes, value: eventLookbackMinutes } },
    );
  }
  return { replicationGroupId, eventLookbackMinutes };
}

async function describeGroup({
  policy,
  deadline,
  deps,
  replicationGroupId,
}: CacheReads): Promise<ReplicationGroup> {
  const request = { operation: 'DescribeReplicationGroups', resource: replicationGroupId, deadline };
  const response = await readControlPlane(policy, request, (abortSignal) =>
    deps.client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: replicationGroupId }), {
      abortSignal,
    }),
  );
  const group = response.ReplicationGroups?.find((g) => g.ReplicationGroupId === replicationGroupId);
  if (group === undefined) {
    throw new ControlPlaneError(
      `DescribeReplicationGroups did not return ${replicationGroupId}`,
      request.operation,
      'not-found',
      { resource: replicationGroupId },
    );
  }
  return group;
}

function assess(
  group: ReplicationGroup,
): Pick<CacheHealthReport, 'status' | 'healthy' | 'reasons' | 'primaryAz' | 'replicas' | 'replicaAzs'> {
  const status = group.Status ?? UNKNOWN_STATUS;
  const reasons: string[] = [];
  if (!SERVING_STATUSES.has(status)) reasons.push(`replication group status is ${status}`);

  const nodeGroups = group.NodeGroups ?? [];
  if (nodeGroups.length === 0) reasons.push('replication group has no node groups');
  let primaryAz: string | null = null;
  const replicaAzs: string[] = [];
  for (const nodeGroup of nodeGroups) {
    const label = nodeGroups.length > 1 ? `node group ${nodeGroup.NodeGroupId ?? '?'}: ` : '';
    const members = nodeGroup.NodeGroupMembers ?? [];
    // CurrentRole is set for cluster-mode-disabled groups, which is what the platform deploys.
    const primary = members.find((m) => m.CurrentRole === 'primary');
    const replicas = members.filter((m) => m.CurrentRole === 'replica');
    if (primary === undefined) reasons.push(`${label}no primary node`);
    else primaryAz ??= primary.PreferredAvailabilityZone ?? null;
    if (replicas.length < MIN_REPLICAS) {
      reasons.push(`${label}${replicas.length} replicas, at least ${MIN_REPLICAS} needed to fail over`);
    }
    replicaAzs.push(...replicas.map((m) => m.PreferredAvailabilityZone ?? 'unknown'));
  }
  return {
    status,
    healthy: reasons.length === 0,
    reasons,
    primaryAz,
    replicas: replicaAzs.length,
    replicaAzs,
  };
}

function publish(report: CacheHealthReport, metrics: HealthMetrics, groupKnown: boolean): void {
  metrics.addDimension(REPLICATION_GROUP_DIMENSION, report.replicationGroupId);
  metrics.addMetric(CACHE_HEALTH_METRICS.healthy, MetricUnit.Count, report.healthy ? 1 : 0);
  // Unknown is not zero: alarms on these must not fire because the API was slow.
  if (groupKnown) metrics.addMetric(CACHE_HEALTH_METRICS.replicas, MetricUnit.Count, report.replicas);
  if (report.failoverEventsRead) {
    metrics.addMetric(CACHE_HEALTH_METRICS.failoversRecent, MetricUnit.Count, report.recentFailovers.length);
  }
  metrics.publishStoredMetrics();
}

/**
 * Checks the ElastiCache replication group through its control plane (DescribeReplicationGroups, then
 * DescribeEvents of the group and of each member cluster), publishes the result as metrics and returns
 * it. A group that cannot be read, or does not exist, yields an unhealthy report (and `CacheHealthy` 0).
 * Events that cannot be read leave the health as the group description says and are logged.
 *
 * @throws {HealthCheckConfigError} when the check itself is misconfigured: a denied permission, a
 *   request the API rejects.
 * @throws {TypeError|RangeError} on a bug in the check.
 */
export async function checkCacheHealth(
  config: CacheHealthConfig,
  deps: CacheHealthDependencies,
): Promise<CacheHealthReport> {
  const reads: CacheReads = { ...startReads(deps), replicationGroupId: config.replicationGroupId };
  const now = deps.now();
  const checkedAt = now.toISOString();
  const window = {
    start: new Date(now.getTime() - config.eventLookbackMinutes * MILLIS_PER_MINUTE),
    end: now,
  };
  return runHealthCheck(deps, {
    subject: 'ElastiCache replication group',
    unreadableMessage: 'ElastiCache control plane unreadable; reporting the cache unhealthy',
    read: async () => {
      const group = await describeGroup(reads);
      let failovers: RecentFailover[] = [];
      let failoverEventsRead = true;
      try {
        failovers = await recentFailovers(reads, group, window);
      } catch (error: unknown) {
        if (!(error instanceof ControlPlaneError)) throw error;
        deps.logger.warn('ElastiCache events unreadable; failovers not counted', {
          error,
          context: error.context,
        });
        failoverEventsRead = false;
      }
      return {
        replicationGroupId: config.replicationGroupId,
        ...assess(group),
        multiAz: group.MultiAZ === 'enabled',
        automaticFailover: group.AutomaticFailover === 'enabled',
        recentFailovers: failovers,
        failoverEventsRead,
        checkedAt,
      };
    },
    unreadable: (error) => ({
      replicationGroupId: config.replicationGroupId,
      status: UNKNOWN_STATUS,
      healthy: false,
      reasons: [error.message],
      primaryAz: null,
      replicas: 0,
      replicaAzs: [],
      multiAz: false,
      automaticFailover: false,
      recentFailovers: [],
      failoverEventsRead: false,
      checkedAt,
    }),
    publish,
  });
}
