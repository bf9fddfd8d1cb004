import { randomBytes } from 'node:crypto';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { IPolicy } from 'cockatiel';
import { isTransientAwsError } from '../aws/transientAwsError.js';
import { EtlStartError } from './errors.js';

/** A re-run to start: the batch and the run number it will get. */
export interface BatchRerun {
  readonly batchId: string;
  /** The run the execution will be (runs so far + 1), when its `OpenBatch` succeeds. */
  readonly run: number;
}

/** Starts an execution of the ETL state machine that re-runs one batch. */
export interface BatchStarter {
  /**
   * @returns an identifier of the execution (its ARN in AWS).
   * @throws {EtlStartError} when the execution could not be started.
   */
  start(rerun: BatchRerun): Promise<string>;
}

const NAME_LIMIT = 80;

/** `2026-01-02T03:04:05.678Z` → `20260102T030405678Z`. */
const compactUtc = (at: Date): string => at.toISOString().replace(/[-:.]/g, '');

/**
 * A name no other execution has had: `rerun-<batchId>-<run>-<start time>-<random>`. Execution names allow
 * 80 characters of `[A-Za-z0-9-_]`; a batch id too long for them is shortened, never the unique tail.
 */
export const executionNameOf = (
  rerun: BatchRerun,
  startedAt: Date = new Date(),
  nonce: string = randomBytes(3).toString('hex'),
): string => {
  const tail = `-${rerun.run}-${compactUtc(startedAt)}-${nonce}`;
  const head = `rerun-${rerun.batchId.replace(/[^A-Za-z0-9-_]/g, '-')}`;
  return `${head.slice(0, NAME_LIMIT - tail.length)}${tail}`;
};

/**
 * Starts re-runs with Step Functions `StartExecution`, input `{ "batchId": ... }`, under a name unique to
 * this start. A name derived from the batch and run alone would be refused for 90 days once an execution of
 * that name has closed: a re-run whose `OpenBatch` failed never raises `runs`, so every later start would
 * ask for the same name. Unique names do not run a batch twice: the recovery job only re-runs FAILED
 * batches, and a re-run's `OpenBatch` marks its batch RUNNING (a re-run that overlaps another one anyway
 * writes nothing new, and only the latest run closes the batch). The policy's retries of one start reuse its
 * name, and Step Functions answers a repeated start of a running execution with the same name and input with
 * that execution, so a lost response does not start a second one.
 */
export class SfnBatchStarter implements BatchStarter {
  public constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    private readonly policy: IPolicy,
  ) {}

  /** @throws {EtlStartError} when the start fails, `ExecutionAlreadyExists` included (not retriable). */
  public async start(rerun: BatchRerun): Promise<string> {
    const name = executionNameOf(rerun);
    try {
      const output = await this.policy.execute(() =>
        this.client.send(
          new StartExecutionCommand({
            stateMachineArn: this.stateMachineArn,
            name,
            input: JSON.stringify({ batchId: rerun.batchId }),
          }),
        ),
      );
      return output.executionArn ?? name;
    } catch (error: unknown) {
      throw new EtlStartError(
        `starting ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
          retriable: isTransientAwsError(error),
          context: { batchId: rerun.batchId, run: rerun.run, execution: name },
        },
      );
    }
  }
}
