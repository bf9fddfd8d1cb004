import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { vi } from 'vitest';
import { freePort } from '../../local/services/freePort.js';
import { envelope } from '../support/events.js';
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

const httpEvent = (method: string, path: string, body: string): APIGatewayProxyEventV2 => ({
  version: '2.0',
  routeKey: '$default',
  rawPath: path,
  rawQueryString: '',
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
