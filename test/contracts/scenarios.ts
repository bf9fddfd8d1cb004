import {
  DescribeEventsCommand,
  DescribeReplicationGroupsCommand,
  ElastiCacheClient,
} from '@aws-sdk/client-elasticache';
import {
  DescribeClusterV2Command,
  GetBootstrapBrokersCommand,
  KafkaClient,
  ListNodesCommand,
} from '@aws-sdk/client-kafka';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { vi } from 'vitest';
import { migrateShard } from '../../lambdas/shared/migrations/index.js';
import { PgSqlClient } from '../../lambdas/shared/sql/index.js';
import { WAREHOUSE_MIGRATIONS } from '../../lambdas/shared/warehouse/migrations.js';
import { freePort } from '../../local/services/freePort.js';
import type { PostgresServer } from '../../local/services/index.js';
import { envelope, mskEvent, mskRecord, registered } from '../support/events.js';
import { captureEmf, type EmittedMetric } from '../support/metricContract.js';

/** What one failure scenario made the functions flush. */
export interface ScenarioRun {
  readonly scenario: string;
  readonly emitted: readonly EmittedMetric[];
}

export const lambdaContext = (functionName: string, remainingMillis = 30_000): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:eu-west-1:111111111111:function:${functionName}`,
  memoryLimitInMB: '512',
  awsRequestId: `${functionName}-request`,
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: '2026/12/03/[$LATEST]contract',
  getRemainingTimeInMillis: () => remainingMillis,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

const httpEvent = (
  method: string,
  path: string,
  body: string,
  query: Record<string, string> = {},
): APIGatewayProxyEventV2 => ({
  version: '2.0',
  routeKey: '$default',
  rawPath: path,
  rawQueryString: new URLSearchParams(query).toString(),
  ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
  headers: { 'content-type': 'application/json' },
  body,
  isBase64Encoded: false,
  requestContext: {
    accountId: '111111111111',
    apiId: 'api',
    domainName: 'api.example.com',
    domainPrefix: 'api',
    http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'contract' },
    requestId: 'request',
    routeKey: '$default',
    stage: '$default',
    time: '03/Dec/2026:00:00:00 +0000',
    timeEpoch: 1_796_256_000_000,
  },
});

/** Environment every function reads to reach AWS: a region and credentials that sign nothing real. */
export function stubAwsEnvironment(): void {
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDCONTRACTTEST');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'contract-test-secret');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_TRACE_DISABLED', 'true');
}

const CLUSTER_ARN = 'arn:aws:kafka:eu-west-1:111111111111:cluster/cdp-contract/0a1b2c3d-4e5f';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111111111111/cdp-contract-ingest-spillover.fifo';

/**
 * Scenario 1, producer side: every broker unreachable (the IAM bootstrap brokers point at a closed loopback
 * port). Requests go through the ingest function's real handler; the durable spillover (SQS) accepts the
 * spills. The handler module is imported fresh, so its cold start is part of the run.
 */
export async function brokerOutageAtIngest(requests = 4): Promise<ScenarioRun> {
  const deadPort = await freePort();
  const kafka = mockClient(KafkaClient);
  const sqs = mockClient(SQSClient);
  const secrets = mockClient(SecretsManagerClient);
  try {
    kafka.on(GetBootstrapBrokersCommand).resolves({ BootstrapBrokerStringSaslIam: `127.0.0.1:${deadPort}` });
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'contract-auth-token' });
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: {
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
        ApproximateNumberOfMessagesDelayed: '0',
      },
    });
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((entry) => ({
        Id: entry.Id,
        MessageId: `m-${entry.Id}`,
        MD5OfMessageBody: '',
      })),
      Failed: [],
    }));
    stubAwsEnvironment();
    vi.stubEnv('TOPIC', 'customer-events.v1');
    vi.stubEnv('CLUSTER_ARN', CLUSTER_ARN);
    vi.stubEnv('SPILLOVER_QUEUE_URL', QUEUE_URL);
    vi.stubEnv('SPILLOVER_MAX_DEPTH', '1000');
    vi.stubEnv('REDIS_HOST', '127.0.0.1');
    vi.stubEnv('REDIS_PORT', String(deadPort));
    vi.stubEnv(
      'REDIS_AUTH_SECRET_ARN',
      'arn:aws:secretsmanager:eu-west-1:111111111111:secret:cdp-contract-redis',
    );
    vi.resetModules();
    const { handler } = await import('../../lambdas/ingest/handler.js');
    const statuses: number[] = [];
    const emitted = await captureEmf(async () => {
      for (let i = 0; i < requests; i += 1) {
        const body = JSON.stringify(
          envelope('customer.email-changed', `outage-${i}`, 0, { email: `outage-${i}@example.com` }),
        );
        const response = await handler(httpEvent('POST', '/v1/events', body), lambdaContext('ingest'));
        statuses.push(response.statusCode ?? 0);
      }
    });
    if (statuses.some((status) => status !== 202)) {
      throw new Error(
        `ingest answered ${statuses.join(', ')} during the outage; every event should be spilled`,
      );
    }
    return { scenario: '1 broker outage at ingest', emitted };
  } finally {
    kafka.restore();
    sqs.restore();
    secrets.restore();
    vi.unstubAllEnvs();
  }
}

const secretsMock = () => {
  const secrets = mockClient(SecretsManagerClient);
  secrets.on(GetSecretValueCommand).resolves({ SecretString: 'contract-auth-token' });
  return secrets;
};

const stubRedisAt = (port: number) => {
  vi.stubEnv('REDIS_HOST', '127.0.0.1');
  vi.stubEnv('REDIS_PORT', String(port));
  vi.stubEnv(
    'REDIS_AUTH_SECRET_ARN',
    'arn:aws:secretsmanager:eu-west-1:111111111111:secret:cdp-contract-redis',
  );
};

/**
 * Scenario 1, after the outage: the spillover drainer's real handler runs a pass over an empty spillover
 * (nothing to republish); it reports what it drained, 0, as the drain-stalled alarm expects.
 */
export async function drainerPass(): Promise<ScenarioRun> {
  const kafka = mockClient(KafkaClient);
  const sqs = mockClient(SQSClient);
  try {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    stubAwsEnvironment();
    vi.stubEnv('TOPIC', 'customer-events.v1');
    vi.stubEnv('CLUSTER_ARN', CLUSTER_ARN);
    vi.stubEnv('SPILLOVER_QUEUE_URL', QUEUE_URL);
    vi.resetModules();
    const { handler } = await import('../../lambdas/spillover-drainer/handler.js');
    const emitted = await captureEmf(() => handler({}, lambdaContext('spillover-drainer')));
    return { scenario: '1 drainer pass', emitted };
  } finally {
    kafka.restore();
    sqs.restore();
    vi.unstubAllEnvs();
  }
}

/** Scenario 1 seen by the broker health check: one of three brokers gone, the cluster HEALING. */
export async function brokerLost(): Promise<ScenarioRun> {
  const kafka = mockClient(KafkaClient);
  try {
    kafka.on(DescribeClusterV2Command).resolves({
      ClusterInfo: {
        ClusterArn: CLUSTER_ARN,
        ClusterName: 'cdp-contract',
        ClusterType: 'PROVISIONED',
        State: 'HEALING',
        Provisioned: {
          NumberOfBrokerNodes: 3,
          BrokerNodeGroupInfo: {
            ClientSubnets: ['subnet-a', 'subnet-b', 'subnet-c'],
            InstanceType: 'kafka.m7g.large',
          },
        },
      },
    });
    kafka.on(ListNodesCommand).resolves({
      NodeInfoList: [1, 2].map((id) => ({
        NodeType: 'BROKER' as const,
        NodeARN: `arn:aws:kafka:eu-west-1:111111111111:broker/cdp-contract/${id}`,
        BrokerNodeInfo: { BrokerId: id, ClientSubnet: `subnet-${id}` },
      })),
    });
    stubAwsEnvironment();
    vi.stubEnv('CLUSTER_ARN', CLUSTER_ARN);
    vi.stubEnv('EXPECTED_BROKERS', '3');
    vi.resetModules();
    const { handler } = await import('../../lambdas/broker-health/handler.js');
    const emitted = await captureEmf(() =>
      handler({ 'detail-type': 'Scheduled Event' } as never, lambdaContext('broker-health')),
    );
    return { scenario: '1 broker lost (health check)', emitted };
  } finally {
    kafka.restore();
    vi.unstubAllEnvs();
  }
}

/** Scenario 4 seen by the cache health check: the primary failed over and no replica is left. */
export async function cacheFailedOver(): Promise<ScenarioRun> {
  const cache = mockClient(ElastiCacheClient);
  const group = 'cdp-contract-index';
  try {
    cache.on(DescribeReplicationGroupsCommand).resolves({
      ReplicationGroups: [
        {
          ReplicationGroupId: group,
          Status: 'available',
          MultiAZ: 'enabled',
          AutomaticFailover: 'enabled',
          MemberClusters: [`${group}-002`],
          NodeGroups: [
            {
              NodeGroupId: '0001',
              Status: 'available',
              NodeGroupMembers: [
                {
                  CacheClusterId: `${group}-002`,
                  CacheNodeId: '0001',
                  CurrentRole: 'primary',
                  PreferredAvailabilityZone: 'eu-west-1b',
                },
              ],
            },
          ],
        },
      ],
    });
    cache.on(DescribeEventsCommand).resolves({
      Events: [
        {
          SourceIdentifier: `${group}-001`,
          SourceType: 'cache-cluster',
          Message: `Failover from primary node ${group}-001 to replica node ${group}-002 completed`,
          Date: new Date(Date.now() - 60_000),
        },
      ],
    });
    stubAwsEnvironment();
    vi.stubEnv('REPLICATION_GROUP_ID', group);
    vi.resetModules();
    const { handler } = await import('../../lambdas/cache-health/handler.js');
    const emitted = await captureEmf(() =>
      handler({ 'detail-type': 'Scheduled Event' } as never, lambdaContext('cache-health')),
    );
    return { scenario: '4 Redis failed over (health check)', emitted };
  } finally {
    cache.restore();
    vi.unstubAllEnvs();
  }
}

/** Migrated shard databases `<prefix>_0..n-1` on `postgres`, as a shard map's entries. */
export async function migratedShards(postgres: PostgresServer, count: number, prefix: string) {
  const urls = await postgres.createShardDatabases(count, prefix);
  for (const url of urls) {
    const client = new PgSqlClient({ name: 'migrate', connectionString: url });
    try {
      await migrateShard(client);
    } finally {
      await client.close();
    }
  }
  return urls.map((url, i) => ({ id: `shard-${i}`, url }));
}

/** Scenario 4 at the query API: Redis unreachable, so a global look-up scans every shard. */
export async function redisDownAtQuery(postgres: PostgresServer): Promise<ScenarioRun> {
  const shards = await migratedShards(postgres, 2, 'query_contract');
  const secrets = secretsMock();
  try {
    stubAwsEnvironment();
    vi.stubEnv('SHARD_MAP', JSON.stringify({ version: 1, shards }));
    stubRedisAt(await freePort());
    vi.resetModules();
    const { handler } = await import('../../lambdas/query/handler.js');
    const emitted = await captureEmf(async () => {
      const response = await handler(
        httpEvent('GET', '/v1/customers', '', { email: 'nobody@example.com' }),
        lambdaContext('query'),
      );
      const status = typeof response === 'object' ? response.statusCode : undefined;
      if (status !== 404) throw new Error(`the fallback look-up answered ${status}, expected 404`);
    });
    return { scenario: '4 Redis down at query', emitted };
  } finally {
    secrets.restore();
    vi.unstubAllEnvs();
  }
}

/** Scenario 9: the last successful window ended eleven hours ago and a batch FAILED; the recovery job runs. */
export async function etlStale(postgres: PostgresServer): Promise<ScenarioRun> {
  await postgres.createDatabases(['warehouse_contract']);
  const url = postgres.url('warehouse_contract');
  const warehouse = new PgSqlClient({ name: 'warehouse', connectionString: url });
  const sfn = mockClient(SFNClient);
  try {
    await migrateShard(warehouse, WAREHOUSE_MIGRATIONS);
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    await warehouse.query(
      `INSERT INTO etl_batches (batch_id, window_start, window_end, status, runs, created_at) VALUES
         ('ok', :a::timestamptz, :b::timestamptz, 'SUCCEEDED', 1, :b::timestamptz),
         ('broken', :b::timestamptz, :c::timestamptz, 'FAILED', 1, :c::timestamptz)`,
      { a: hoursAgo(12), b: hoursAgo(11), c: hoursAgo(10) },
    );
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec:rerun', startDate: new Date() });
    stubAwsEnvironment();
    vi.stubEnv('WAREHOUSE_URL', url);
    vi.stubEnv(
      'ETL_STATE_MACHINE_ARN',
      'arn:aws:states:eu-west-1:111111111111:stateMachine:cdp-contract-etl',
    );
    vi.stubEnv('ETL_MAX_RETRIES', '2');
    vi.resetModules();
    const { handler } = await import('../../lambdas/etl-recovery/handler.js');
    const emitted = await captureEmf(() =>
      handler({ 'detail-type': 'Scheduled Event' } as never, lambdaContext('etl-recovery')),
    );
    return { scenario: '9 ETL failed and stale', emitted };
  } finally {
    sfn.restore();
    await warehouse.close();
    vi.unstubAllEnvs();
  }
}

/**
 * Scenarios 3, 4 and 5 at the consumer: shard-1's database unreachable (its port closed), Redis unreachable
 * and the brokers too (parking fails, so the records stay failed and are redelivered). The consumer's real
 * handler takes batches with customers on both shards until shard-1's breaker has opened.
 */
export async function shardDownAtConsumer(postgres: PostgresServer, invocations = 7): Promise<ScenarioRun> {
  const [healthy] = await migratedShards(postgres, 1, 'consumer_contract');
  const deadPort = await freePort();
  const shards = [healthy, { id: 'shard-1', url: `postgres://postgres@127.0.0.1:${deadPort}/customers` }];
  const kafka = mockClient(KafkaClient);
  const sqs = mockClient(SQSClient);
  const secrets = secretsMock();
  try {
    kafka.on(GetBootstrapBrokersCommand).resolves({ BootstrapBrokerStringSaslIam: `127.0.0.1:${deadPort}` });
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((entry) => ({
        Id: entry.Id,
        MessageId: 'm',
        MD5OfMessageBody: '',
      })),
      Failed: [],
    }));
    stubAwsEnvironment();
    vi.stubEnv('SHARD_MAP', JSON.stringify({ version: 1, shards }));
    vi.stubEnv('CLUSTER_ARN', CLUSTER_ARN);
    vi.stubEnv('RETRY_TOPIC', 'customer-events.v1.retry');
    vi.stubEnv(
      'DLQ_QUEUE_URL',
      'https://sqs.eu-west-1.amazonaws.com/111111111111/cdp-contract-consumer-failures',
    );
    stubRedisAt(deadPort);
    vi.resetModules();
    const { handler } = await import('../../lambdas/consumer/handler.js');
    const emitted = await captureEmf(async () => {
      for (let i = 0; i < invocations; i += 1) {
        const records = Array.from({ length: 20 }, (_, k) =>
          mskRecord('customer-events.v1', 0, i * 20 + k, registered(`contract-${i}-${k}`, i)),
        );
        await handler(mskEvent(records), lambdaContext('consumer', 60_000));
      }
    });
    return { scenario: '3 shard down at consumer (Redis and brokers down too)', emitted };
  } finally {
    kafka.restore();
    sqs.restore();
    secrets.restore();
    vi.unstubAllEnvs();
  }
}
