import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { requestOf } from '../../lambdas/query/http.js';
import { route } from '../../lambdas/query/routes.js';
import type { CustomerQueryService } from '../../lambdas/shared/query/index.js';
import type { GatewayRoute } from './RouteTable.js';

export const QUERY_FUNCTION_NAME = 'query';

/** The query API's routes as the HTTP API declares them, integrated with the real query router. */
export function queryGatewayRoutes(customers: CustomerQueryService, logger: Logger): GatewayRoute[] {
  const handler = (event: APIGatewayProxyEventV2) => route(requestOf(event), { customers, logger });
  return ['GET /v1/customers/{customerId}', 'GET /v1/customers'].map((routeKey) => ({
    routeKey,
    handler,
    functionName: QUERY_FUNCTION_NAME,
  }));
}
