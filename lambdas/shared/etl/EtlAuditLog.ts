import type { IPolicy } from 'cockatiel';
import { type SqlClient, SqlJson, type SqlRow } from '../sql/index.js';
import { EtlBatchNotFoundError } from './errors.js';

/** A batch's window as the state machine carries it: UTC ISO-8601 text with microseconds. */
export interface BatchWindow {
  readonly batchId: string;
  /** 1 for the first execution of the batch, then one more per re-run. */
  readonly run: number;
  readonly windowStart: string;
  readonly windowEnd: string;
}

export type BatchStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

/** One attempt of one step on one shard, as kept in `etl_shard_attempts`. */
export interface ShardAttempt {
  readonly batchId: string;
  readonly run: number;
  readonly shardId: string;
  readonly step: 'extract-load' | 'validate';
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly startedAt: Date;
  readonly rowsExtracted?: number | undefined;
  readonly rowsWritten?: number | undefined;
  readonly sourceRows?: number | undefined;
  readonly warehouseRows?: number | undefined;
  readonly checksum?: string | undefined;
  readonly error?: string | undefined;
}

/** The state of the warehouse as the recovery job sees it. */
export interface WarehouseHealth {
  /** The end of the newest window before which every batch succeeded; null before the first success. */
  readonly watermark: string | null;
  /**
   * Seconds from the watermark to the warehouse's `now()`. Before the first success: the age of the oldest
   * batch's window start, counted from no earlier than that batch was opened, or 0 with no batch at all.
   */
  readonly stalenessSeconds: number;
  /** FAILED batches, oldest window first, with the number of runs each has had. */
  readonly failed: readonly { readonly batchId: string; readonly runs: number }[];
}

/** What a run of a batch ended with, as kept in `etl_batch_runs` and (for the latest run) `etl_batches`. */
export interface RunOutcome {
  readonly batchId: string;
  readonly run: number;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly rowsExtracted: number;
  readonly rowsWritten: number;
  readonly sourceRows: number;
  readonly checksum: string | null;
  readonly error: string | null;
}

const ISO = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ${column}`;

/** Concurrent openers queue here, so two new windows never start at the same watermark. */
const LOCK_BATCHES = 'LOCK TABLE etl_batches IN SHARE ROW EXCLUSIVE MODE';

const OPEN_NEW = `
  WITH last AS (SELECT coalesce(max(window_end), 'epoch'::timestamptz) AS start FROM etl_batches),
  batch AS (
    INSERT INTO etl_batches (batch_id, window_start, window_end, status)
    SELECT :batchId, start, greatest(start, now() - :settleSeconds::float8 * interval '1 second'), 'RUNNING'
    FROM last
    RETURNING batch_id, runs, window_start, window_end
  )
  SELECT batch_id, runs, ${ISO('window_start')}, ${ISO('window_end')} FROM batch`;

const OPEN_RERUN = `
  UPDATE etl_batches SET status = 'RUNNING', runs = runs + 1, started_at = now(), finished_at = NULL,
    error = NULL
  WHERE batch_id = :batchId
  RETURNING batch_id, runs, ${ISO('window_start')}, ${ISO('window_end')}`;

const INSERT_RUN = `INSERT INTO etl_batch_runs (batch_id, run, status) VALUES (:batchId, :run, 'RUNNING')`;

const INSERT_ATTEMPT = `
  INSERT INTO etl_shard_attempts (batch_id, run, shard_id, step, status, started_at, rows_extracted,
    rows_written, source_rows, warehouse_rows, checksum, error)
  VALUES (:batchId, :run, :shardId, :step, :status, :startedAt, :rowsExtracted, :rowsWritten, :sourceRows,
    :warehouseRows, :checksum, :error)`;

const CLOSE_RUN = `
  UPDATE etl_batch_runs SET status = :status, finished_at = now(), rows_extracted = :rowsExtracted,
    rows_written = :rowsWritten, source_rows = :sourceRows, checksum = :checksum, error = :error
  WHERE batch_id = :batchId AND run = :run`;

/** Only the latest run speaks for the batch: a slow, older execution finishing late changes nothing. */
const CLOSE_BATCH = `
  UPDATE etl_batches SET status = :status, finished_at = now(), rows_extracted = :rowsExtracted,
    rows_written = :rowsWritten, source_rows = :sourceRows, checksum = :checksum, error = :error
  WHERE batch_id = :batchId AND runs = :run`;

/**
 * Every batch before the oldest unsuccessful one succeeded, so the watermark is where that one starts;
 * with none, the end of the newest window. Empty windows count like any other.
 *
 * Before the first success there is no watermark, yet the staleness alarm treats a missing figure as
 * breaching: staleness is then measured from the oldest window's start, but no earlier than that batch
 * was opened (the first window starts at the epoch, and the warehouse owes nothing from before the ETL
 * ran), and is 0 while no batch exists (the job is alive and nothing is owed yet).
 */
const WATERMARK = `
  WITH mark AS (
    SELECT CASE
      WHEN NOT EXISTS (SELECT 1 FROM etl_batches WHERE status = 'SUCCEEDED') THEN NULL
      ELSE coalesce(
        (SELECT min(window_start) FROM etl_batches WHERE status <> 'SUCCEEDED'),
        (SELECT max(window_end) FROM etl_batches))
    END AS watermark
  ),
  owed AS (
    SELECT greatest(window_start, created_at) AS since FROM etl_batches ORDER BY window_start, created_at LIMIT 1
  )
  SELECT ${ISO('watermark')},
    coalesce(extract(epoch FROM now() - coalesce(watermark, (SELECT since FROM owed)))::float8, 0)
      AS staleness_seconds
  FROM mark`;

/** Batches whose latest run has been RUNNING for too long: no execution is left to close them. */
const ABANDON_BATCHES = `
  UPDATE etl_batches SET status = 'FAILED', finished_at = now(), error = :error
  WHERE status = 'RUNNING' AND started_at < now() - :afterSeconds::float8 * interval '1 second'
  RETURNING batch_id, runs`;

const ABANDON_RUNS = `
  UPDATE etl_batch_runs SET status = 'FAILED', finished_at = now(), error = :error
  WHERE status = 'RUNNING' AND (batch_id, run) IN (
    SELECT b.batch_id, b.runs FROM etl_batches b
    WHERE b.batch_id IN (SELECT jsonb_array_elements_text(:batchIds::jsonb)))`;

const FAILED_BATCHES = `SELECT batch_id, runs FROM etl_batches WHERE status = 'FAILED' ORDER BY window_start`;

const windowOf = (row: SqlRow | undefined, batchId: string): BatchWindow => {
  if (row === undefined) throw new EtlBatchNotFoundError(`batch ${batchId} is not in the audit log`);
  return {
    batchId: String(row.batch_id),
    run: Number(row.runs),
    windowStart: String(row.window_start),
    windowEnd: String(row.window_end),
  };
};

/**
 * The ETL's audit log in the warehouse: every batch (its window and status), every run of it, and every
 * attempt of every step on every shard. Each method is one transaction, run through `policy`.
 */
export class EtlAuditLog {
  public constructor(
    private readonly warehouse: SqlClient,
    private readonly policy: IPolicy,
  ) {}

  /**
   * Opens a new batch whose window starts where the newest batch (whatever its status) ended and ends
   * `settleSeconds` before the warehouse's `now()`; empty when nothing has settled since.
   * @throws {SqlError} when the warehouse fails.
   */
  public openNew(batchId: string, settleSeconds: number): Promise<BatchWindow> {
    return this.policy.execute(() =>
      this.warehouse.transaction(async (tx) => {
        await tx.query(LOCK_BATCHES);
        const { rows } = await tx.query(OPEN_NEW, { batchId, settleSeconds });
        const window = windowOf(rows[0], batchId);
        await tx.query(INSERT_RUN, { batchId, run: window.run });
        return window;
      }),
    );
  }

  /**
   * Starts another run of an existing batch, over its original window.
   * @throws {EtlBatchNotFoundError} when the batch does not exist.
   * @throws {SqlError} when the warehouse fails.
   */
  public openRerun(batchId: string): Promise<BatchWindow> {
    return this.policy.execute(() =>
      this.warehouse.transaction(async (tx) => {
        const { rows } = await tx.query(OPEN_RERUN, { batchId });
        const window = windowOf(rows[0], batchId);
        await tx.query(INSERT_RUN, { batchId, run: window.run });
        return window;
      }),
    );
  }

  /**
   * Records one attempt of a step on a shard.
   * @throws {SqlError} when the warehouse fails.
   */
  public async recordAttempt(attempt: ShardAttempt): Promise<void> {
    await this.policy.execute(() =>
      this.warehouse.query(INSERT_ATTEMPT, {
        batchId: attempt.batchId,
        run: attempt.run,
        shardId: attempt.shardId,
        step: attempt.step,
        status: attempt.status,
        startedAt: attempt.startedAt,
        rowsExtracted: attempt.rowsExtracted ?? null,
        rowsWritten: attempt.rowsWritten ?? null,
        sourceRows: attempt.sourceRows ?? null,
        warehouseRows: attempt.warehouseRows ?? null,
        checksum: attempt.checksum ?? null,
        error: attempt.error ?? null,
      }),
    );
  }

  /**
   * Closes a run, and the batch when the run is its latest.
   * @throws {SqlError} when the warehouse fails.
   */
  public async close(outcome: RunOutcome): Promise<void> {
    const params = { ...outcome };
    await this.policy.execute(() =>
      this.warehouse.transaction(async (tx) => {
        await tx.query(CLOSE_RUN, params);
        await tx.query(CLOSE_BATCH, params);
      }),
    );
  }

  /**
   * Marks FAILED every batch whose latest run started more than `afterSeconds` ago and is still RUNNING
   * (its execution timed out or was stopped), so the recovery job re-runs it like any failed batch.
   * @returns the ids of the batches it marked.
   * @throws {SqlError} when the warehouse fails.
   */
  public async abandonStale(afterSeconds: number): Promise<string[]> {
    const error = `abandoned: still RUNNING ${afterSeconds} s after its run started (execution timed out or stopped)`;
    return this.policy.execute(() =>
      this.warehouse.transaction(async (tx) => {
        const { rows } = await tx.query(ABANDON_BATCHES, { afterSeconds, error });
        const batchIds = rows.map((r) => String(r.batch_id));
        if (batchIds.length > 0) await tx.query(ABANDON_RUNS, { batchIds: new SqlJson(batchIds), error });
        return batchIds;
      }),
    );
  }

  /**
   * Reads the watermark, the staleness (never missing, see `WATERMARK`) and the FAILED batches.
   * @throws {SqlError} when the warehouse fails.
   */
  public health(): Promise<WarehouseHealth> {
    return this.policy.execute(async () => {
      const mark = await this.warehouse.query(WATERMARK);
      const failed = await this.warehouse.query(FAILED_BATCHES);
      const row = mark.rows[0];
      const watermark =
        row?.watermark === null || row?.watermark === undefined ? null : String(row.watermark);
      return {
        watermark,
        stalenessSeconds: Number(row?.staleness_seconds ?? 0),
        failed: failed.rows.map((r) => ({ batchId: String(r.batch_id), runs: Number(r.runs) })),
      };
    });
  }
}
