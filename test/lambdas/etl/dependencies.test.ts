import { describe, expect, it } from 'vitest';
import { etlSettingsFrom, shardMapFrom, warehouseClientFrom } from '../../../lambdas/etl/dependencies.js';
import { EtlConfigError } from '../../../lambdas/shared/etl/errors.js';
import { ETL_DEFAULTS } from '../../../lambdas/shared/resilience/defaults.js';
import { DataApiSqlClient, PgSqlClient } from '../../../lambdas/shared/sql/index.js';

describe('ETL wiring from the environment', () => {
  it('reaches the warehouse through the Data API when a cluster is named, over pg when a URL is', async () => {
    const dataApi = warehouseClientFrom({
      WAREHOUSE_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:111122223333:cluster:cdp-dev-warehouse',
      WAREHOUSE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:warehouse',
      WAREHOUSE_DATABASE: 'warehouse',
    });
    const local = warehouseClientFrom({ WAREHOUSE_URL: 'postgres://postgres@127.0.0.1:1/warehouse' });

    expect(dataApi).toBeInstanceOf(DataApiSqlClient);
    expect(local).toBeInstanceOf(PgSqlClient);
    await Promise.all([dataApi.close(), local.close()]);
  });

  it('refuses to start without a warehouse, a shard map or with a negative settle interval', () => {
    expect(() => warehouseClientFrom({})).toThrow(EtlConfigError);
    expect(() => shardMapFrom({})).toThrow(/SHARD_MAP is not set/);
    expect(() => shardMapFrom({ SHARD_MAP: '{"version":1,"shards":[]}' })).toThrow(/SHARD_MAP is invalid/);
    expect(() => etlSettingsFrom({ ETL_SETTLE_SECONDS: '-5' })).toThrow(
      /ETL_SETTLE_SECONDS must be a number >= 0/,
    );
  });

  it('takes the settle interval and the re-run limit from the environment, the defaults otherwise', () => {
    expect(etlSettingsFrom({ ETL_SETTLE_SECONDS: '5', ETL_MAX_RETRIES: '1' })).toMatchObject({
      settleSeconds: 5,
      maxRetries: 1,
    });
    expect(etlSettingsFrom({})).toMatchObject({
      settleSeconds: ETL_DEFAULTS.settleSeconds,
      maxRetries: ETL_DEFAULTS.maxRetries,
    });
  });
});
