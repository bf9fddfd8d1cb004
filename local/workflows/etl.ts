import type { Logger } from '@aws-lambda-powertools/logger';
import type { BatchRerun, BatchStarter } from '../../lambdas/shared/etl/BatchStarter.js';
import { createEtlSteps } from '../../lambdas/shared/etl/steps.js';
import { type EtlSettings, etlSettings } from '../../lambdas/shared/resilience/defaults.js';
import type { SqlClient } from '../../lambdas/shared/sql/index.js';
import { type JSONValue, type LocalTask, runWorkflow, type WorkflowResult } from './runWorkflow.js';

export const ETL_DEFINITION = 'etl.asl.json';

/** A Task state's call, as seen by an interceptor: the state, its input, and the bound step. */
export type TaskInterceptor = (state: string, input: JSONValue, next: LocalTask) => Promise<JSONValue>;

/** One SNS publish the `NotifyFailure` state made. */
export interface Notification {
  readonly topicArn: string;
  readonly subject: string;
  readonly message: JSONValue;
}

export interface LocalEtlOptions {
  /** A client per shard id; left open. */
  readonly shards: ReadonlyMap<string, SqlClient>;
  /** The warehouse database (migrated with `WAREHOUSE_MIGRATIONS`); left open. */
  readonly warehouse: SqlClient;
  readonly settings?: Partial<EtlSettings>;
  /** Receives every SNS publish of the `NotifyFailure` state. */
  readonly notify?: (notification: Notification) => void;
  /** Retry waits in milliseconds by state name, instead of the definition's seconds. */
  readonly retryIntervals?: Readonly<Record<string, number | number[]>>;
  /** Wraps every Task state call: drills use it to put a fault in place before chosen attempts. */
  readonly intercept?: TaskInterceptor;
  readonly logger?: Logger;
}

const asJson = (value: unknown): JSONValue => JSON.parse(JSON.stringify(value)) as JSONValue;

/**
 * Runs one execution of `step-functions/etl.asl.json` on this machine: the same definition CDK deploys,
 * its Lambda Task states bound to the real step code over the given clients, the SNS task to `notify`.
 * Input `{}` opens a new batch; `{ batchId }` re-runs that batch.
 *
 * @throws {RangeError} when the definition has a Task state this runner does not bind.
 */
export async function runEtlLocally(
  options: LocalEtlOptions,
  input: { readonly batchId?: string } = {},
): Promise<WorkflowResult> {
  const steps = createEtlSteps({
    shards: options.shards,
    warehouse: options.warehouse,
    settings: etlSettings(options.settings),
    logger: options.logger,
  });
  const bound: Record<string, LocalTask> = {
    OpenBatch: async (i) => asJson(await steps.openBatch(i)),
    ExtractLoad: async (i) => asJson(await steps.extractLoad(i)),
    ValidateShard: async (i) => asJson(await steps.validateShard(i)),
    CloseBatch: async (i) => asJson(await steps.closeBatch(i)),
    NotifyFailure: (i) => {
      const parameters = i as { TopicArn?: string; Subject?: string; Message?: string };
      options.notify?.({
        topicArn: String(parameters.TopicArn),
        subject: String(parameters.Subject),
        message: JSON.parse(String(parameters.Message)) as JSONValue,
      });
      return { MessageId: `local-${Date.now()}` };
    },
  };
  const { intercept } = options;
  const tasks =
    intercept === undefined
      ? bound
      : Object.fromEntries(
          Object.entries(bound).map(([state, task]) => [state, (i: JSONValue) => intercept(state, i, task)]),
        );
  return runWorkflow(
    {
      definition: ETL_DEFINITION,
      tasks,
      ...(options.retryIntervals ? { retryIntervals: options.retryIntervals } : {}),
    },
    asJson(input),
  );
}

/** Re-runs batches by running the local workflow, as the recovery job's `BatchStarter` on this machine. */
export class LocalBatchStarter implements BatchStarter {
  /** Results of the executions this starter ran, in order. */
  public readonly executions: Array<{ readonly rerun: BatchRerun; readonly result: WorkflowResult }> = [];

  public constructor(private readonly options: LocalEtlOptions) {}

  public async start(rerun: BatchRerun): Promise<string> {
    const result = await runEtlLocally(this.options, { batchId: rerun.batchId });
    this.executions.push({ rerun, result });
    return `local:${rerun.batchId}:${rerun.run}:${result.status}`;
  }
}
