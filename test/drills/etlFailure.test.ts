import { describe, expect, it } from 'vitest';
import { runEtlFailure } from '../../local/drills/etlFailure.js';

describe('ETL failure drill: a shard refuses the ETL through a whole batch, then comes back', () => {
  it('fails the batch and notifies once, the recovery job re-runs it, and the warehouse then agrees with every shard', async () => {
    // Act
    const result = await runEtlFailure({ events: 1_200, seconds: 1 });

    // Assess
    const { details } = result;
    expect(details.failedBatch).toMatchObject({ status: 'FAILED', error: 'EtlBatchFailed' });
    expect(details.notifications).toHaveLength(1);
    expect(details.notifications[0]).toMatchObject({ subject: 'ETL batch failed' });
    expect(details.recovery).toEqual({ failedBatches: 1, started: 1, exhausted: 0 });
    expect(details.rerun).toEqual(['SUCCEEDED']);
    expect(details.missing).toEqual([]);
    expect(details.stale).toEqual([]);
    expect(details.extra).toEqual([]);
    expect(result.counts.applied).toBe(result.counts.offered);
    expect(result.detectSeconds).not.toBeNull();
    expect(result.passed).toBe(true);
  });
});
