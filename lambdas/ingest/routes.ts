import type { Context } from 'aws-lambda';
import { ROUTES, versionedPath } from '../shared/contracts/index.js';
import { errorResponse, type IngestResponse, type IngestService } from '../shared/ingest/IngestService.js';
import type { RequestShape } from '../shared/ingest/validation.js';

/** An HTTP request as the routes see it, independent of API Gateway's event format. */
export interface HttpRequest {
  readonly method: string;
  /** The path without stage prefix: `/v1/events`. */
  readonly path: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * The body as text, decoded from base64 when API Gateway encoded it; the raw bytes when they are not
   * UTF-8 (validation refuses them).
   */
  readonly body: string | Uint8Array;
  readonly context?: Context | undefined;
}

export type HttpResponse = IngestResponse;

export interface Route {
  readonly method: string;
  readonly path: string;
  handle(request: HttpRequest): Promise<HttpResponse>;
}

export type Router = (request: HttpRequest) => Promise<HttpResponse>;

/**
 * The routes of API version 1. A later version gets its own function beside this one, with its own
 * paths under `/v2`, so `/v1` keeps its contract.
 */
export function v1Routes(service: Pick<IngestService, 'accept'>): Route[] {
  const accept =
    (shape: RequestShape) =>
    (request: HttpRequest): Promise<HttpResponse> =>
      service.accept({
        shape,
        body: request.body,
        idempotencyKey: request.headers['idempotency-key'],
        contentType: request.headers['content-type'],
        context: request.context,
      });
  return [
    { method: ROUTES.ingestOne.method, path: versionedPath(ROUTES.ingestOne), handle: accept('single') },
    { method: ROUTES.ingestBatch.method, path: versionedPath(ROUTES.ingestBatch), handle: accept('batch') },
  ];
}

const normalizePath = (path: string): string => (path.length > 1 ? path.replace(/\/+$/, '') : path);

/**
 * Dispatches on method and path: 404 for an unknown path, 405 (with `Allow`) for a known path and another
 * method.
 *
 * @throws {RangeError} when two routes have the same method and path.
 */
export function createRouter(routes: readonly Route[]): Router {
  const table = new Map<string, Map<string, Route>>();
  for (const route of routes) {
    const path = normalizePath(route.path);
    const methods = table.get(path) ?? new Map<string, Route>();
    const method = route.method.toUpperCase();
    if (methods.has(method)) throw new RangeError(`duplicate route ${method} ${path}`);
    methods.set(method, route);
    table.set(path, methods);
  }
  return async (request) => {
    const path = normalizePath(request.path);
    const methods = table.get(path);
    if (methods === undefined) return errorResponse(404, 'not-found', `No route ${path}`);
    const method = request.method.toUpperCase();
    const route = methods.get(method);
    if (route === undefined) {
      const allow = [...methods.keys()].join(', ');
      return errorResponse(405, 'method-not-allowed', `${method} is not allowed on ${path}; use ${allow}`, {
        headers: { allow },
      });
    }
    return route.handle(request);
  };
}
