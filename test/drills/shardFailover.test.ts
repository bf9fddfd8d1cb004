import { describe, expect, it } from 'vitest';
import { RESUME_BUDGET_MILLIS, runShardFailover } from '../../local/drills/shardFailover.js';

const EVENTS = 24_000;
/** How long shard-3 stays down before its standby is promoted: the failure being noticed, and then some. */
const OUTAGE_SECONDS = 8;

describe('shard failover drill: promote the replica of a failed shard, repoint it, no restart', () => {
  it("keeps applying shards 0-2 throughout shard-3's outage, resumes shard-3 on its promoted standby within 5 s of the repoint, and loses nothing", async () => {
    // Act: shard-3's primary fails under load; its synchronous standby is promoted and the map repointed.
    const result = await runShardFailover({ events: EVENTS, seconds: OUTAGE_SECONDS });

    // Assess
    const { details } = result;
    console.info(`shard failover drill: ${JSON.stringify({ ...details, wrongCustomers: undefined })}`);
    expect(details.replication).toEqual(['sync']);
    for (const growth of details.growthPerWindow) expect(growth).toBeGreaterThan(0);
    expect(details.parked).toBeGreaterThan(0);
    expect(details.resumedAfterMillis).toBeLessThan(RESUME_BUDGET_MILLIS);
    expect(details.repointLogs).toBe(1);
    expect(details.sentToDestination).toBe(0);
    expect(result.counts.deadLettered).toBe(0);
    expect(details.appliedPerShard).toEqual(details.expectedPerShard);
    expect(details.effects).toBe(EVENTS);
    expect(details.customers).toBe(details.expectedCustomers);
    expect(details.wrongCustomers).toEqual([]);
    expect(result.counts).toMatchObject({ lost: 0, duplicateEffects: 0 });
    expect(result.passed).toBe(true);
  });
});
