import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { IPolicy } from 'cockatiel';
import { isTransientAwsError } from '../aws/transientAwsError.js';
import { EtlStartError } from './errors.js';

/** A re-run to start: the batch and the run number it will get. */
export interface BatchRerun {
  readonly batchId: string;
  /** The run the execution will be (runs so far + 1); names the execution, so a repeat start is a no-op. */
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

/** Execution names allow 80 characters of `[A-Za-z0-9-_]`. */
export const executionNameOf = (rerun: BatchRerun): string =>
  `rerun-${rerun.batchId.replace(/[^A-Za-z0-9-_]/g, '-')}-${rerun.run}`.slice(0, 80);

/**
 * Starts re-runs with Step Functions `StartExecution`, input `{ "batchId": ... }`. The execution is named
 * after the batch and run, so a start repeated after a lost response finds the execution already there and
 * returns it instead of running the batch twice.
 */
export class SfnBatchStarter implements BatchStarter {
  public constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    private readonly policy: IPolicy,
  ) {}

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
      if (error instanceof ExecutionAlreadyExists) {
        return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
      }
      throw new EtlStartError(
        `starting ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
          retriable: isTransientAwsError(error),
          context: { batchId: rerun.batchId, run: rerun.run },
        },
      );
    }
  }
}
