import type { Logger } from '@aws-lambda-powertools/logger';
import { type CustomerQueries, OverloadedError, ShardUnavailableError } from '../shared/query/index.js';
import { type HttpRequest, type HttpResponse, problem, type Route } from './http.js';
import { CUSTOMERS_V1 } from './v1/customers.js';

/** Every route of the API. A new version adds its own list (`/v2/...`) beside v1, which stays untouched. */
export const ROUTES: readonly Route[] = [...CUSTOMERS_V1];

export interface RouterDependencies {
  readonly customers: CustomerQueries;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
}

const decode = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Malformed percent-encoding: passed on raw, the parameter's validation rejects it.
    return segment;
  }
};

/** The parameters of `path` under `template`, or undefined when it does not match. */
export function matchPath(template: string, path: string): Record<string, string> | undefined {
  const expected = template.split('/');
  const actual = path.split('/');
  if (expected.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of expected.entries()) {
    const segment = actual[i] ?? '';
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name !== undefined) params[name] = decode(segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

/**
 * Routes one request and maps the outcome to HTTP: 200, 400 (field errors), 404, 405, 503 with
 * `Retry-After` when a dependency is saturated or unavailable (retrying later helps), and 500 for
 * anything else, logged here and never described to the caller.
 */
export async function route(
  request: HttpRequest,
  deps: RouterDependencies,
  routes: readonly Route[] = ROUTES,
): Promise<HttpResponse> {
  const candidates = routes.flatMap((r) => {
    const params = matchPath(r.path, request.path);
    return params === undefined ? [] : [{ route: r, params }];
  });
  if (candidates.length === 0) return problem(404, 'NotFound', 'No such resource.');
  const match = candidates.find((c) => c.route.method === request.method);
  if (match === undefined) {
    const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ');
    return problem(405, 'MethodNotAllowed', `Use ${allow}.`, {}, { allow });
  }
  try {
    return await match.route.handle({
      customers: deps.customers,
      params: match.params,
      query: request.query,
    });
  } catch (error: unknown) {
    if (error instanceof OverloadedError || error instanceof ShardUnavailableError) {
      deps.logger.warn('look-up deferred to a retry', {
        error,
        context: error.context,
      });
      return problem(
        503,
        'ServiceUnavailable',
        'The service cannot answer right now; retry later.',
        {},
        { 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterSeconds))) },
      );
    }
    deps.logger.error('look-up failed', { error });
    return problem(500, 'InternalError', 'The request could not be processed.');
  }
}
