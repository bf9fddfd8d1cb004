import type { Logger } from '@aws-lambda-powertools/logger';
import { createQueryApi, ROUTES } from '../../lambdas/query/routes.js';
import type { CustomerQueryService } from '../../lambdas/shared/query/index.js';
import type { GatewayRoute } from './RouteTable.js';

export const QUERY_FUNCTION_NAME = 'query';

/** The query API's routes as the HTTP API declares them, integrated with the query Lambda's own router. */
export function queryGatewayRoutes(customers: CustomerQueryService, logger: Logger): GatewayRoute[] {
  const api = createQueryApi({ customers, logger });
  return ROUTES.map((route) => ({
    routeKey: `${route.method} ${route.path}`,
    handler: (event, context) => api.resolve(event, context),
    functionName: QUERY_FUNCTION_NAME,
  }));
}
