import type { Logger } from '@aws-lambda-powertools/logger';
import { type ApiRoute, createApiRouter, type HttpApi } from '../shared/http/index.js';
import { type CustomerQueries, OverloadedError, ShardUnavailableError } from '../shared/query/index.js';
import { type HttpResponse, NO_STORE, problem, type Route } from './http.js';
import { CUSTOMERS_V1 } from './v1/customers.js';

/** Every route of the API. A new version adds its own list (`/v2/...`) beside v1, which stays untouched. */
export const ROUTES: readonly Route[] = [...CUSTOMERS_V1];

export interface RouterDependencies {
  readonly customers: CustomerQueries;
  readonly logger: Logger;
}

/**
 * A failed look-up as HTTP: 503 with `Retry-After` when a dependency is saturated or unavailable
 * (retrying later helps), 500 for anything else, logged here and never described to the caller.
 */
function failed(error: unknown, logger: Logger): HttpResponse {
  if (error instanceof OverloadedError || error instanceof ShardUnavailableError) {
    logger.warn('look-up deferred to a retry', { error, context: error.context });
    return problem(503, 'unavailable', 'The service cannot answer right now; retry later.', {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterSeconds))) },
    });
  }
  logger.error('look-up failed', { error });
  return problem(500, 'internal', 'The request could not be processed.');
}

/**
 * The query API on the Powertools Router: 200, 400 (field issues), 404, 405 with `Allow`, 503 and 500, each
 * error in the shape both APIs share.
 *
 * @throws {RangeError} when two routes have the same method and path.
 */
export function createQueryApi(deps: RouterDependencies, routes: readonly Route[] = ROUTES): HttpApi {
  const apiRoutes = routes.map(
    (route): ApiRoute => ({
      method: route.method,
      path: route.path,
      handle: ({ path, params, query }) => route.handle({ customers: deps.customers, path, params, query }),
    }),
  );
  return createApiRouter(apiRoutes, {
    headers: NO_STORE,
    logger: deps.logger,
    onError: (error) => failed(error, deps.logger),
  });
}
