import type { Logger } from '@aws-lambda-powertools/logger';
import { createRouter, v1Routes } from '../../lambdas/ingest/routes.js';
import type { Envelope } from '../../lambdas/shared/events/index.js';
import type { IngestService } from '../../lambdas/shared/ingest/IngestService.js';
import type { EventPublisher } from '../../lambdas/shared/ingest/publisher.js';
import type { LocalLog } from '../log/index.js';
import { publishToLog } from '../traffic/publishToLog.js';
import type { GatewayRoute } from './RouteTable.js';

export const INGEST_FUNCTION_NAME = 'ingest';

/**
 * The ingest API's routes as the HTTP API declares them (`POST /v1/events`, `POST /v1/events/batch`), all
 * integrated with one function that resolves the event on the ingest Lambda's own router.
 */
export function ingestGatewayRoutes(service: Pick<IngestService, 'accept'>, logger?: Logger): GatewayRoute[] {
  const routes = v1Routes(service);
  const router = createRouter(routes, logger);
  return routes.map((route) => ({
    routeKey: `${route.method.toUpperCase()} ${route.path}`,
    handler: (event, context) => router.resolve(event, context),
    functionName: INGEST_FUNCTION_NAME,
  }));
}

/**
 * The local log in the place of MSK: each publish appends the envelopes to the topic as the Kafka publisher
 * produces them (key = customerId, value = the JSON envelope), in one append per partition.
 */
export function logPublisher(log: LocalLog): EventPublisher {
  return {
    async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
      await publishToLog(log, topic, envelopes, { chunk: envelopes.length || 1 });
    },
    async close(): Promise<void> {},
  };
}
