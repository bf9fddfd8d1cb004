import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestsFor } from '../../lambdas/api-probe/handler.js';
import { type WiredQueryService, wireQueryService } from '../../lambdas/query/dependencies.js';
import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import { runApiProbe } from '../../lambdas/shared/probes/apiProbe.js';
import { ingestGatewayRoutes, logPublisher } from '../../local/http/ingestApi.js';
import { queryGatewayRoutes } from '../../local/http/queryApi.js';
import { LocalLog } from '../../local/log/index.js';
import { LocalDataServices } from '../../local/platform/LocalDataServices.js';
import { quietTelemetry } from '../support/emf.js';

const quiet = new Logger({ serviceName: 'probe-test', logLevel: 'SILENT' });
const context = { awsRequestId: 'probe' } as Context;

describe('the API pre-traffic probes against the real ingest and query code (real PostgreSQL and Redis)', () => {
  let services: LocalDataServices;
  let dir: string;
  let query: WiredQueryService;
  let ingestHandler: (event: APIGatewayProxyEventV2) => Promise<unknown>;
  let queryHandler: (event: APIGatewayProxyEventV2) => Promise<unknown>;

  beforeAll(async () => {
    services = await LocalDataServices.start({ shards: 2, name: 'api-probe' });
    dir = await mkdtemp(join(tmpdir(), 'cdp-api-probe-'));
    const log = await LocalLog.open(dir, { fsync: false });
    await log.createTopic('customer-events.v1', 3);
    const ingest = new IngestService({
      publisher: logPublisher(log),
      topic: 'customer-events.v1',
      logger: quiet,
      metrics: quietTelemetry().metrics,
    });
    const ingestRoute = ingestGatewayRoutes(ingest)[0];
    query = await wireQueryService({
      shardMap: services.shardMap,
      redis: services.redis ? { url: services.redis.url } : undefined,
      logger: quiet,
      metrics: new Metrics({ namespace: 'cdp', serviceName: 'query' }),
    });
    const queryRoute = queryGatewayRoutes(query.service, quiet)[0];
    if (ingestRoute === undefined || queryRoute === undefined) throw new Error('no routes');
    ingestHandler = (event) => ingestRoute.handler(event, context);
    queryHandler = (event) => queryRoute.handler(event, context);
  });

  afterAll(async () => {
    await query?.close();
    await services?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes the current ingest and query versions', async () => {
    expect(await runApiProbe(ingestHandler, requestsFor('ingest'))).toEqual({ passed: true, problems: [] });
    expect(await runApiProbe(queryHandler, requestsFor('query'))).toEqual({ passed: true, problems: [] });
  });

  it('fails a version that breaks a request or throws', async () => {
    const broken = async () => ({ statusCode: 500, body: '{}' });
    const throwing = async () => {
      throw new Error('Runtime.ImportModuleError');
    };
    const ingest = await runApiProbe(broken, requestsFor('ingest'));
    const query = await runApiProbe(throwing, requestsFor('query'));
    expect(ingest.passed).toBe(false);
    expect(ingest.problems[0]).toBe('POST /v1/events answered 500, not 202');
    expect(query.problems).toHaveLength(2);
    expect(query.problems[0]).toMatch(/GET \/v1\/customers\/cdp-probe-api failed: .*ImportModuleError/);
  });
});
