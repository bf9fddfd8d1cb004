import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, v1Routes } from '../../lambdas/ingest/routes.js';
import { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import { ApiGatewayServer } from '../../local/http/ApiGatewayServer.js';
import { ingestGatewayRoutes, logPublisher } from '../../local/http/ingestApi.js';
import type { GatewayHandler, GatewayRoute } from '../../local/http/RouteTable.js';
import { LocalLog } from '../../local/log/index.js';
import { quietTelemetry } from '../support/emf.js';
import { registered } from '../support/events.js';

const TOPIC = 'customer-events.v1';

/**
 * The ingest API's routes of one version under another path prefix: how a `/v2` sits beside `/v1`, served
 * by its own function version.
 */
const underVersion = (routes: GatewayRoute[], version: string, handler?: GatewayHandler): GatewayRoute[] =>
  routes.map((route) => ({
    ...route,
    routeKey: route.routeKey.replace(' /v1/', ` /${version}/`),
    ...(handler === undefined ? {} : { handler }),
  }));

/** A weighted alias: each invocation goes to `candidate` with probability `weight`. */
const weighted = (current: GatewayHandler, candidate: GatewayHandler, weight: number): GatewayHandler => {
  let n = 0;
  // Deterministic spread: every 10th invocation at 10 %.
  return (event, context) => {
    n += 1;
    return n % Math.round(1 / weight) === 0 ? candidate(event, context) : current(event, context);
  };
};

describe('versioned ingest API: /v2 canaried beside /v1', () => {
  let dir: string;
  let server: ApiGatewayServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdp-api-versions-'));
    const log = await LocalLog.open(dir, { fsync: false });
    await log.createTopic(TOPIC, 3);
    const service = new IngestService({
      publisher: logPublisher(log),
      topic: TOPIC,
      logger: new Logger({ serviceName: 'ingest', logLevel: 'SILENT' }),
      metrics: quietTelemetry('ingest').metrics,
    });
    const v1 = ingestGatewayRoutes(service);
    // /v2's stable version: the same ingest code with its routes under /v2.
    const v2Router = createRouter(
      v1Routes(service).map((r) => ({ ...r, path: r.path.replace('/v1/', '/v2/') })),
    );
    const v2Stable: GatewayHandler = (event, context) => v2Router.resolve(event, context);
    // /v2's new function version fails every request; the alias sends it 10 % of /v2's traffic.
    const broken: GatewayHandler = async () => ({ statusCode: 500, body: '{"message":"v2 bug"}' });
    server = await ApiGatewayServer.start({
      routes: [...v1, ...underVersion(v1, 'v2', weighted(v2Stable, broken, 0.1))],
    });
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every /v1 request while the /v2 canary fails some of its own', async () => {
    // Act: 100 requests to each version, interleaved.
    const post = async (version: string, i: number) => {
      const response = await fetch(`${server.url}/${version}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registered(`versions-${version}-${i}`, i)),
      });
      return response.status;
    };
    const statuses = { v1: [] as number[], v2: [] as number[] };
    for (let i = 0; i < 100; i += 1) {
      statuses.v1.push(await post('v1', i));
      statuses.v2.push(await post('v2', i));
    }

    // Assess
    expect(statuses.v1.every((status) => status === 202)).toBe(true);
    expect(statuses.v2.filter((status) => status === 500)).toHaveLength(10);
    expect(statuses.v2.filter((status) => status === 202)).toHaveLength(90);
  });
});
