import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { type BatchStarter, SfnBatchStarter } from '../shared/etl/BatchStarter.js';
import { etlSettingsFrom, warehouseClientFrom } from '../shared/etl/environment.js';
import { EtlConfigError } from '../shared/etl/errors.js';
import type { RecoveryDependencies } from '../shared/etl/recoverBatches.js';
import { startExecutionPolicy } from '../shared/resilience/named.js';

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The recovery job's dependencies: the warehouse (as the ETL's), and a starter of ETL executions on
 * `ETL_STATE_MACHINE_ARN` (or the given starter, e.g. the local workflow runner).
 * @throws {EtlConfigError} when a setting is missing or invalid.
 */
export function wireRecovery(
  env: Environment,
  aws: { readonly sfn: SFNClient; readonly logger: Logger; readonly metrics: Metrics },
  starter?: BatchStarter,
): RecoveryDependencies & { close(): Promise<void> } {
  const settings = etlSettingsFrom(env);
  const stateMachineArn = env.ETL_STATE_MACHINE_ARN;
  if (starter === undefined && (stateMachineArn === undefined || stateMachineArn === '')) {
    throw new EtlConfigError('ETL_STATE_MACHINE_ARN is not set');
  }
  const warehouse = warehouseClientFrom(env);
  return {
    warehouse,
    settings,
    starter: starter ?? new SfnBatchStarter(aws.sfn, String(stateMachineArn), startExecutionPolicy(settings)),
    logger: aws.logger,
    metrics: aws.metrics,
    close: () => warehouse.close(),
  };
}
