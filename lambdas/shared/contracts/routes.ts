/** The HTTP API's routes, as API Gateway declares them (under their version) and the handlers dispatch them. */
export const ROUTES = {
  ingestOne: { method: 'POST', version: 'v1', path: '/events' },
  ingestBatch: { method: 'POST', version: 'v1', path: '/events/batch' },
  customerById: { method: 'GET', version: 'v1', path: '/customers/{customerId}' },
  customerLookup: { method: 'GET', version: 'v1', path: '/customers' },
} as const;

export type RouteContract = (typeof ROUTES)[keyof typeof ROUTES];

/** The path a caller uses: `/v1/customers/{customerId}`. */
export const versionedPath = (route: RouteContract): string => `/${route.version}${route.path}`;

/** API Gateway's route key: `GET /v1/customers/{customerId}`. */
export const routeKey = (route: RouteContract): string => `${route.method} ${versionedPath(route)}`;
