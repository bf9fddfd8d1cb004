import {
  DescribeEventsCommand,
  type ElastiCacheClient,
  type Event,
  type ReplicationGroup,
  type SourceType,
} from '@aws-sdk/client-elasticache';
import { type ControlPlaneReads, readControlPlane } from './healthCheck.js';

/**
 * Matches every failover message (`Failover to replica node ... completed`, `Failover from primary node
 * ... to replica node ... completed`, `Test Failover API called for node group ...`). One failover can
 * raise several such events, so `CacheFailoversRecent` counts events, not failovers: alarm on > 0.
 */
export const FAILOVER_MESSAGE = /failover/i;

/**
 * DescribeEvents returns at most 100 per page. Only the first page of each source is read: a node
 * raising more than 100 events within the lookback window is in enough trouble that the group's status
 * tells the story, and the count of failovers is then a lower bound.
 */
export const EVENTS_PAGE_SIZE = 100;

export interface RecentFailover {
  /** ISO 8601. */
  readonly at: string;
  readonly message: string;
}

/** What the cache check's reads share: the policy, the deadline and the group. */
export interface CacheReads extends ControlPlaneReads<ElastiCacheClient> {
  readonly replicationGroupId: string;
}

/** The group's member clusters, from the group or else from its node groups. */
const memberClustersOf = (group: ReplicationGroup): string[] => {
  const members =
    group.MemberClusters ??
    (group.NodeGroups ?? []).flatMap((ng) => (ng.NodeGroupMembers ?? []).map((m) => m.CacheClusterId));
  return [...new Set(members.filter((id): id is string => id !== undefined && id !== ''))];
};

/**
 * Failover events of the group and of each member cluster within the window, deduplicated, newest first.
 * One page per source (see {@link EVENTS_PAGE_SIZE}); sources are read one after the other so that a
 * burst does not meet the API's throttling.
 */
export async function recentFailovers(
  reads: CacheReads,
  group: ReplicationGroup,
  window: { readonly start: Date; readonly end: Date },
): Promise<RecentFailover[]> {
  const sources: Array<{ type: SourceType; id: string }> = [
    { type: 'replication-group', id: reads.replicationGroupId },
    ...memberClustersOf(group).map((id) => ({ type: 'cache-cluster' as const, id })),
  ];
  const events: Event[] = [];
  for (const source of sources) {
    const request = { operation: 'DescribeEvents', resource: source.id, deadline: reads.deadline };
    const response = await readControlPlane(reads.policy, request, (abortSignal) =>
      reads.deps.client.send(
        new DescribeEventsCommand({
          SourceType: source.type,
          SourceIdentifier: source.id,
          StartTime: window.start,
          EndTime: window.end,
          MaxRecords: EVENTS_PAGE_SIZE,
        }),
        { abortSignal },
      ),
    );
    events.push(...(response.Events ?? []));
  }
  const failovers = new Map<string, RecentFailover>();
  for (const event of events) {
    // An event without a date cannot be placed in the window; the API always sets one.
    if (event.Date === undefined || event.Message === undefined || !FAILOVER_MESSAGE.test(event.Message))
      continue;
    const failover = { at: event.Date.toISOString(), message: event.Message };
    failovers.set(`${failover.at} ${failover.message}`, failover);
  }
  return [...failovers.values()].sort((a, b) => b.at.localeCompare(a.at));
}
