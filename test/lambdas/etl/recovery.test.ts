import { ExecutionAlreadyExists, InvalidArn, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { executionNameOf, SfnBatchStarter } from '../../../lambdas/shared/etl/BatchStarter.js';
import { EtlStartError } from '../../../lambdas/shared/etl/errors.js';
import { recoverBatches } from '../../../lambdas/shared/etl/recoverBatches.js';
import { migrateShard } from '../../../lambdas/shared/migrations/index.js';
import { etlSettings } from '../../../lambdas/shared/resilience/defaults.js';
import { startExecutionPolicy } from '../../../lambdas/shared/resilience/named.js';
import { PgSqlClient } from '../../../lambdas/shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../../../lambdas/shared/warehouse/migrations.js';
import { PostgresServer } from '../../../local/services/index.js';
import { recordingMetrics, valuesOf } from '../../support/emf.js';

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:cdp-dev-etl';
const FAST = etlSettings({ startRetries: 2, startRetryInitialDelayMillis: 1, startRetryMaxDelayMillis: 2 });
const sfnMock = mockClient(SFNClient);

const throttled = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client' as const });

describe('SfnBatchStarter', () => {
  beforeEach(() => sfnMock.reset());

  it('starts one execution named after the batch and run plus a unique tail, with the batch id as input', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:1', startDate: new Date() });
    const starter = new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST));

    const execution = await starter.start({ batchId: 'etl-42', run: 2 });

    expect(execution).toBe('arn:exec:1');
    const calls = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { stateMachineArn: STATE_MACHINE_ARN, name: expect.any(String), input: '{"batchId":"etl-42"}' },
    ]);
    expect(calls[0]?.name).toMatch(/^rerun-etl-42-2-\d{8}T\d{9}Z-[0-9a-f]{6}$/);
  });

  it('retries throttling with backoff and then starts', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejectsOnce(throttled())
      .resolves({ executionArn: 'arn:exec:2', startDate: new Date() });
    const starter = new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST));

    await expect(starter.start({ batchId: 'etl-42', run: 2 })).resolves.toBe('arn:exec:2');
    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    // A retry of one start keeps its name, so a start whose response was lost is not started twice.
    expect(names).toHaveLength(2);
    expect(names[1]).toBe(names[0]);
  });

  it('names every start differently, so a batch whose re-run never opened can be started again', async () => {
    // Step Functions refuses a name it has seen (open, or closed within 90 days).
    const seen = new Set<string>();
    sfnMock.on(StartExecutionCommand).callsFake((input: { name?: string }) => {
      const name = String(input.name);
      if (seen.has(name))
        throw new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });
      seen.add(name);
      return { executionArn: `arn:exec:${name}`, startDate: new Date() };
    });
    const starter = new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST));

    // The first re-run's OpenBatch failed: `runs` did not move, so the same run is asked for again.
    const first = await starter.start({ batchId: 'etl-42', run: 2 });
    const second = await starter.start({ batchId: 'etl-42', run: 2 });

    expect(first).not.toBe(second);
    expect([first, second].every((arn) => /^arn:exec:rerun-etl-42-2-/.test(arn))).toBe(true);
    expect(seen.size).toBe(2);
  });

  it('keeps execution names within 80 characters of [A-Za-z0-9-_] and the unique tail whole', () => {
    const at = new Date('2026-03-04T05:06:07.089Z');
    const long = { batchId: `etl-${'x'.repeat(100)}/é`, run: 12 };

    expect(executionNameOf({ batchId: 'etl-7', run: 3 }, at, 'a1b2c3')).toBe(
      'rerun-etl-7-3-20260304T050607089Z-a1b2c3',
    );
    const name = executionNameOf(long, at, 'a1b2c3');
    expect(name).toHaveLength(80);
    expect(name).toMatch(/^rerun-etl-x+-12-20260304T050607089Z-a1b2c3$/);
    expect(executionNameOf({ batchId: 'b/é', run: 1 }, at, 'ffffff')).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('raises a non-retriable EtlStartError when the execution already exists', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const starter = new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST));

    const failure = await starter.start({ batchId: 'etl-42', run: 3 }).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(EtlStartError);
    expect(failure).toMatchObject({ name: 'EtlStartError', retriable: false });
    expect(String((failure as Error).message)).toMatch(/^starting rerun-etl-42-3-.*Execution Already Exists/);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('raises a non-retriable EtlStartError for a request the service rejects', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new InvalidArn({ message: 'Invalid Arn', $metadata: {} }));
    const starter = new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST));

    const failure = await starter.start({ batchId: 'etl-42', run: 2 }).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(EtlStartError);
    expect(failure).toMatchObject({ name: 'EtlStartError', retriable: false });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });
});

describe('ETL recovery job on a real warehouse', () => {
  let server: PostgresServer;
  let warehouse: PgSqlClient;
  let url: string;

  const batch = async (
    batchId: string,
    start: string,
    end: string,
    status: string,
    runs = 1,
    createdAt = new Date().toISOString(),
  ) => {
    await warehouse.query(
      `INSERT INTO etl_batches (batch_id, window_start, window_end, status, runs, created_at)
       VALUES (:batchId, :start::timestamptz, :end::timestamptz, :status, :runs, :createdAt::timestamptz)`,
      { batchId, start, end, status, runs, createdAt },
    );
  };

  beforeAll(async () => {
    server = await PostgresServer.start({ name: 'etl-recovery' });
    await server.createDatabases(['warehouse']);
    url = server.url('warehouse');
    warehouse = new PgSqlClient({ name: 'warehouse', connectionString: url });
    await migrateShard(warehouse, WAREHOUSE_MIGRATIONS);
  });

  afterAll(async () => {
    await warehouse?.close();
    await server?.destroy();
  });

  beforeEach(async () => {
    sfnMock.reset();
    await warehouse.query('TRUNCATE etl_shard_attempts, etl_batch_runs, etl_batches');
  });

  it('publishes the staleness of the watermark and the failed batches, and re-runs those with retries left', async () => {
    const now = Date.now();
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    await batch('b1', at(50), at(40), 'SUCCEEDED');
    await batch('b2', at(40), at(30), 'FAILED', 1);
    await batch('b3', at(30), at(20), 'SUCCEEDED');
    await batch('b4', at(20), at(10), 'FAILED', 4);
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:b2', startDate: new Date() });
    const { metrics, published } = recordingMetrics('etl-recovery');

    const report = await recoverBatches({
      warehouse,
      starter: new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST)),
      settings: etlSettings({ maxRetries: 3 }),
      metrics,
    });
    metrics.publishStoredMetrics();

    expect(report).toMatchObject({
      failedBatches: 2,
      started: [{ batchId: 'b2', run: 2, execution: 'arn:exec:b2' }],
      exhausted: ['b4'],
      startFailures: [],
    });
    // Every batch before b2 succeeded: the watermark is where b2 starts, 40 minutes ago.
    expect(report.stalenessSeconds).toBeGreaterThanOrEqual(40 * 60);
    expect(report.stalenessSeconds).toBeLessThan(41 * 60);
    const values = valuesOf(published[0]);
    expect(values).toMatchObject({ FailedBatches: 2, BatchRerunsStarted: 1 });
    expect(values.WarehouseStalenessSeconds).toBe(report.stalenessSeconds);
  });

  it('marks FAILED and re-runs a batch left RUNNING past the abandon limit, and leaves a recent run alone', async () => {
    const now = Date.now();
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    await batch('stuck', at(90), at(80), 'RUNNING', 1);
    await batch('busy', at(80), at(70), 'RUNNING', 1);
    await warehouse.query(
      `UPDATE etl_batches SET started_at = now() - (CASE batch_id WHEN 'stuck' THEN 75 ELSE 2 END) * interval '1 minute'`,
    );
    await warehouse.query(
      `INSERT INTO etl_batch_runs (batch_id, run, status) VALUES ('stuck', 1, 'RUNNING'), ('busy', 1, 'RUNNING')`,
    );
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:stuck', startDate: new Date() });
    const { metrics, published } = recordingMetrics('etl-recovery');

    const report = await recoverBatches({
      warehouse,
      starter: new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST)),
      settings: etlSettings({ abandonAfterSeconds: 60 * 60 }),
      metrics,
    });
    metrics.publishStoredMetrics();

    expect(report).toMatchObject({
      abandoned: ['stuck'],
      failedBatches: 1,
      started: [{ batchId: 'stuck', run: 2 }],
    });
    const { rows } = await warehouse.query<{ batch_id: string; status: string; error: string | null }>(
      `SELECT b.batch_id, r.status, r.error FROM etl_batches b
       JOIN etl_batch_runs r ON r.batch_id = b.batch_id AND r.run = 1 ORDER BY b.batch_id`,
    );
    expect(rows).toEqual([
      { batch_id: 'busy', status: 'RUNNING', error: null },
      {
        batch_id: 'stuck',
        status: 'FAILED',
        error: expect.stringMatching(/^abandoned: still RUNNING 3600 s/),
      },
    ]);
    expect(valuesOf(published[0])).toMatchObject({
      AbandonedBatches: 1,
      FailedBatches: 1,
      BatchRerunsStarted: 1,
    });
  });

  it('publishes a staleness of 0 before any batch exists: the job is alive and nothing is owed yet', async () => {
    const { metrics, published } = recordingMetrics('etl-recovery');

    const report = await recoverBatches({
      warehouse,
      starter: new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST)),
      settings: etlSettings(),
      metrics,
    });
    metrics.publishStoredMetrics();

    expect(report).toMatchObject({ watermark: null, stalenessSeconds: 0, failedBatches: 0, started: [] });
    expect(valuesOf(published[0])).toMatchObject({ WarehouseStalenessSeconds: 0, FailedBatches: 0 });
  });

  it('publishes the age of the oldest window before the first success, counted from when it was opened', async () => {
    const now = Date.now();
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    // The first window starts at the epoch; the ETL opened it 25 minutes ago and it has not succeeded since.
    await batch('first', '1970-01-01T00:00:00Z', at(25), 'FAILED', 1, at(25));
    await batch('second', at(25), at(15), 'FAILED', 1, at(15));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:x', startDate: new Date() });
    const { metrics, published } = recordingMetrics('etl-recovery');

    const report = await recoverBatches({
      warehouse,
      starter: new SfnBatchStarter(new SFNClient({}), STATE_MACHINE_ARN, startExecutionPolicy(FAST)),
      settings: etlSettings(),
      metrics,
    });
    metrics.publishStoredMetrics();

    expect(report.watermark).toBeNull();
    expect(report.stalenessSeconds).toBeGreaterThanOrEqual(25 * 60);
    expect(report.stalenessSeconds).toBeLessThan(26 * 60);
    expect(valuesOf(published[0]).WarehouseStalenessSeconds).toBe(report.stalenessSeconds);
  });

  describe('as the scheduled handler', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('runs from its environment and starts the re-runs on the state machine', async () => {
      await batch('b9', '2026-01-01T00:00:00Z', '2026-01-01T00:10:00Z', 'FAILED', 2);
      sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:b9', startDate: new Date() });
      vi.stubEnv('WAREHOUSE_URL', url);
      vi.stubEnv('ETL_STATE_MACHINE_ARN', STATE_MACHINE_ARN);
      vi.stubEnv('ETL_MAX_RETRIES', '2');
      // The handler wires itself once per module instance: a fresh one reads this environment.
      vi.resetModules();
      const { handler } = await import('../../../lambdas/etl-recovery/handler.js');

      const report = await handler({} as ScheduledEvent, { functionName: 'etl-recovery' } as Context);

      expect(report).toMatchObject({ failedBatches: 1, started: [{ batchId: 'b9', run: 3 }], exhausted: [] });
      expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toMatchObject({
        stateMachineArn: STATE_MACHINE_ARN,
        input: '{"batchId":"b9"}',
      });
    });
  });
});
