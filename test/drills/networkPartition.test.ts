import { describe, expect, it } from 'vitest';
import { runNetworkPartition } from '../../local/drills/networkPartition.js';

const EVENTS = 12_000;
const CUT_SECONDS = 10;

describe('network partition drill: the consumer loses its database connections for 10 s mid-load', () => {
  it('retries with backoff through the cut, loses no event, and the reconciliation afterwards finds no inconsistency', async () => {
    // Act: part of the traffic published up front, the rest arriving while the consumer runs; the cut
    // comes once a quarter of it is applied.
    const result = await runNetworkPartition({ events: EVENTS, seconds: CUT_SECONDS });

    // Assess
    const { details } = result;
    console.info(`network partition drill: ${JSON.stringify({ ...details, wrongCustomers: undefined })}`);
    expect(details.cutMillis).toBeGreaterThanOrEqual(CUT_SECONDS * 1_000 - 50);
    expect(details.eventsFailedAndRedelivered).toBeGreaterThan(0);
    expect(details.invocationRetries).toBeGreaterThan(0);
    expect(result.counts.deadLettered).toBe(0);
    expect(details.appliedEvents).toBe(EVENTS);
    expect(details.effects).toBe(EVENTS);
    expect(details.customers).toBe(details.expectedCustomers);
    expect(details.wrongCustomers).toEqual([]);
    expect(details.indexMismatches).toEqual([]);
    expect(details.reconciliation.status).toBe('SUCCEEDED');
    expect(details.reconciliation.complete).toBe(true);
    expect(details.reconciliation.totals).toEqual({
      missing: 0,
      stale: 0,
      extra: 0,
      conflicts: 0,
      repaired: 0,
      gapEvents: 0,
      replayed: 0,
      poison: 0,
    });
    expect(details.reconciliation.eventsChecked).toBe(EVENTS);
    expect(result.counts).toMatchObject({ lost: 0, duplicateEffects: 0 });
    expect(result.detectSeconds).not.toBeNull();
    expect(result.passed).toBe(true);
  });
});
