import {
  HttpVerbs,
  MethodNotAllowedError,
  ParameterValidationError,
  Router,
} from '@aws-lambda-powertools/event-handler/http';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { type ApiResponse, errorResponse } from './errorBody.js';
import { type ApiRequest, requestOf } from './gatewayRequest.js';

export interface ApiRoute {
  readonly method: string;
  /** A path template as API Gateway writes it: `/v1/customers/{customerId}`. */
  readonly path: string;
  handle(request: ApiRequest): Promise<ApiResponse>;
}

/** An HTTP API behind one Lambda function: every route of it, resolved from the event API Gateway sends. */
export interface HttpApi {
  resolve(event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyStructuredResultV2>;
}

export interface ApiRouterOptions {
  /** What a route's failure becomes: the API's own 503s and its 500 (which it logs). */
  readonly onError: (error: unknown, request: ApiRequest) => ApiResponse;
  /** Headers of the router's own answers (404, 405, 400 for an empty path parameter). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The function's logger; the Router's own warnings go to it too. */
  readonly logger?: Logger | undefined;
}

const VERBS: readonly string[] = Object.values(HttpVerbs);

const trimTrailingSlashes = (path: string): string =>
  path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;

/** `/v1/customers/{customerId}` in the Router's notation, `/v1/customers/:customerId`. */
const routerPath = (template: string): `/${string}` => {
  const path = trimTrailingSlashes(template).replace(/\{(\w+)\}/g, ':$1');
  if (!path.startsWith('/')) throw new RangeError(`route path ${template} does not start with /`);
  return path as `/${string}`;
};

const PATH_CHARACTER = /[^A-Za-z0-9\-._~!$&'()*+,;=:@%]/gu;

const encodeCharacter = (character: string): string => {
  try {
    return encodeURIComponent(character);
  } catch {
    // A lone surrogate: no UTF-8 form; it reaches the route as U+FFFD, which no parameter accepts.
    return '%EF%BF%BD';
  }
};

/**
 * The path as a URL path that the Router decodes back to the path API Gateway sent: characters a URL would
 * drop or read as a delimiter (`?`, `#`, `\`, white space) are percent-encoded, and in a segment whose
 * percent-encoding is malformed `%` stands for itself, so its parameter reaches validation as sent.
 */
function urlPathOf(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      let literal = segment;
      try {
        decodeURIComponent(segment);
      } catch {
        literal = segment.replaceAll('%', '%25');
      }
      return literal.replace(PATH_CHARACTER, encodeCharacter);
    })
    .join('/');
}

/**
 * The HTTP API `routes` on the Powertools Router, with every answer that is not the route's own in the
 * one error shape (errorBody.ts): 404 `not-found` for an unknown path, 405 `method-not-allowed` with
 * `Allow` for another method on a known path, 400 `validation` for an empty path parameter, and what
 * `onError` makes of a route's failure.
 *
 * The stage prefix of a named stage is removed, and a trailing slash is ignored (the Router's own rule).
 * The Router sees only method and path; routes read headers and body from the event as API Gateway sent
 * them (`requestOf`), so bytes that are not UTF-8 stay bytes.
 *
 * @throws {RangeError} when two routes have the same method and path.
 */
export function createApiRouter(routes: readonly ApiRoute[], options: ApiRouterOptions): HttpApi {
  const router = new Router(options.logger === undefined ? {} : { logger: options.logger });
  // Keyed by the event handed to the Router, which passes that same object to the handlers.
  const requests = new WeakMap<object, ApiRequest>();
  const methodsByPath = new Map<`/${string}`, Set<string>>();
  const requestFor = (event: object): ApiRequest => {
    const request = requests.get(event);
    if (request === undefined) throw new RangeError('the router resolved an event it was not given');
    return request;
  };

  for (const route of routes) {
    const path = routerPath(route.path);
    const method = route.method.toUpperCase();
    const methods = methodsByPath.get(path) ?? new Set<string>();
    if (methods.has(method) || !VERBS.includes(method)) {
      throw new RangeError(`duplicate or unknown route ${method} ${route.path}`);
    }
    methods.add(method);
    methodsByPath.set(path, methods);
    router.route(async ({ event, params }) => route.handle({ ...requestFor(event), params }), {
      method: method as keyof typeof HttpVerbs,
      path,
    });
  }
  // The Router answers a known path with another method as an unknown path; these routes tell them apart.
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods].join(', ');
    const others = VERBS.filter((verb) => !methods.has(verb)) as (keyof typeof HttpVerbs)[];
    router.route(
      async () => {
        throw new MethodNotAllowedError(undefined, undefined, { allow });
      },
      { method: others, path },
    );
  }

  const own = options.headers ?? {};
  const describePath = (request: ApiRequest): string => trimTrailingSlashes(request.path);
  router.notFound(async (_error, { event }) => {
    const request = requestFor(event);
    return errorResponse(404, 'not-found', `No route ${describePath(request)}`, { headers: own });
  });
  router.methodNotAllowed(async (error, { event }) => {
    const request = requestFor(event);
    const allow = typeof error.details?.allow === 'string' ? error.details.allow : '';
    return errorResponse(
      405,
      'method-not-allowed',
      `${request.method} is not allowed on ${describePath(request)}; use ${allow}`,
      { headers: { ...own, allow } },
    );
  });
  router.errorHandler(ParameterValidationError, async (error) =>
    errorResponse(400, 'validation', 'The request is not valid', {
      issues: error.issues.map((message) => ({ path: '(path)', message })),
      headers: own,
    }),
  );
  router.errorHandler(Error, async (error, { event }) => options.onError(error, requestFor(event)));

  return {
    async resolve(event, context) {
      const request = requestOf(event, context);
      if (!VERBS.includes(request.method)) {
        return errorResponse(405, 'method-not-allowed', `${request.method} is not allowed`, { headers: own });
      }
      // Only method and path decide the route; the Router needs no more, and could not parse every header.
      const { body: _body, cookies: _cookies, ...rest } = event;
      const routing: APIGatewayProxyEventV2 = {
        ...rest,
        rawPath: urlPathOf(request.path),
        rawQueryString: '',
        headers: {},
        isBase64Encoded: false,
        requestContext: {
          ...event.requestContext,
          domainName: 'localhost',
          http: { ...event.requestContext.http, method: request.method },
        },
      };
      requests.set(routing, request);
      return router.resolve(routing, context);
    },
  };
}
