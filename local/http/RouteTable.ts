import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { InvalidGatewayOptionError, InvalidRouteError } from './errors.js';

/** A Lambda function behind an HTTP API route (payload format 2.0). */
export type GatewayHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2<unknown>>;

export interface GatewayRoute {
  /** `POST /v1/events`, `GET /v1/customers/{customerId}`, `ANY /files/{proxy+}` or `$default`. */
  readonly routeKey: string;
  readonly handler: GatewayHandler;
  /** Name in the handler's Lambda context (default `local-function`). */
  readonly functionName?: string;
  /**
   * The function's own timeout: past it the invocation fails (500), as Lambda ends it. Defaults to the
   * integration timeout, so that API Gateway gives up first (503).
   */
  readonly functionTimeoutMillis?: number;
}

export interface RouteMatch {
  readonly route: GatewayRoute;
  /** The route key of the matched route: what API Gateway puts in `routeKey`. */
  readonly routeKey: string;
  /** Decoded values of the route's path variables; absent when it has none. */
  readonly pathParameters?: Readonly<Record<string, string>>;
}

export const DEFAULT_ROUTE_KEY = '$default';

const METHODS = new Set(['ANY', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const VARIABLE = /^\{([A-Za-z0-9_]+)(\+?)\}$/;
const LITERAL = /^[A-Za-z0-9._~:@!$&'()*+,;=-]+$/;

type Segment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'variable'; readonly name: string }
  | { readonly kind: 'greedy'; readonly name: string };

interface CompiledRoute {
  readonly route: GatewayRoute;
  readonly method: string;
  readonly segments: readonly Segment[];
}

/** Higher is more specific: a literal segment beats a variable, which beats a greedy variable. */
const RANK = { literal: 2, variable: 1, greedy: 0 } as const;

function compile(route: GatewayRoute): CompiledRoute {
  const { routeKey } = route;
  const match = /^([A-Z]+) (\/.*)$/.exec(routeKey);
  const method = match?.[1];
  const path = match?.[2];
  if (method === undefined || path === undefined) {
    throw new InvalidRouteError(routeKey, 'use "$default" or "<METHOD> /<path>"');
  }
  if (!METHODS.has(method)) throw new InvalidRouteError(routeKey, `unknown method ${method}`);
  if (route.functionTimeoutMillis !== undefined && !(route.functionTimeoutMillis > 0)) {
    throw new InvalidGatewayOptionError('functionTimeoutMillis', route.functionTimeoutMillis, 'must be > 0');
  }
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const names = new Set<string>();
  const segments = parts.map((part, index): Segment => {
    const variable = VARIABLE.exec(part);
    if (variable === null) {
      if (!LITERAL.test(part)) throw new InvalidRouteError(routeKey, `invalid path segment "${part}"`);
      return { kind: 'literal', text: part };
    }
    const name = variable[1] ?? '';
    if (names.has(name)) throw new InvalidRouteError(routeKey, `path variable {${name}} appears twice`);
    names.add(name);
    if (variable[2] !== '+') return { kind: 'variable', name };
    if (index !== parts.length - 1) {
      throw new InvalidRouteError(routeKey, 'a greedy path variable must be the last segment');
    }
    return { kind: 'greedy', name };
  });
  return { route, method, segments };
}

/** The path variables when `segments` matches `parts`, else undefined. */
function bind(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [index, segment] of segments.entries()) {
    const part = parts[index];
    if (part === undefined) return undefined;
    if (segment.kind === 'greedy') {
      params[segment.name] = parts.slice(index).join('/');
      return params;
    }
    if (segment.kind === 'variable') {
      if (part === '') return undefined;
      params[segment.name] = part;
    } else if (segment.text !== part) {
      return undefined;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

const rankAt = (route: CompiledRoute, index: number): number => {
  const segment = route.segments[index];
  return segment === undefined ? -1 : RANK[segment.kind];
};

/** Negative when `a` is the more specific route. */
function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const length = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < length; i += 1) {
    const difference = rankAt(b, i) - rankAt(a, i);
    if (difference !== 0) return difference;
  }
  return Number(a.method === 'ANY') - Number(b.method === 'ANY');
}

/**
 * The routes of an HTTP API and API Gateway's choice among them: the most specific route whose method (or
 * `ANY`) and path match, a literal segment beating a path variable and that beating a greedy one, a
 * method beating `ANY`; else the `$default` route; else none (API Gateway's 404). Paths are compared
 * segment by segment after percent-decoding, and a trailing slash is significant.
 */
export class RouteTable {
  private readonly routes: readonly CompiledRoute[];
  private readonly fallback: GatewayRoute | undefined;

  /** @throws {InvalidRouteError} for a malformed route key or two routes with the same key. */
  public constructor(routes: readonly GatewayRoute[]) {
    const seen = new Set<string>();
    const compiled: CompiledRoute[] = [];
    let fallback: GatewayRoute | undefined;
    for (const route of routes) {
      const shape = route.routeKey.replace(/\{[^}]*?(\+?)\}/g, '{$1}');
      if (seen.has(shape)) throw new InvalidRouteError(route.routeKey, 'another route has the same key');
      seen.add(shape);
      if (route.routeKey === DEFAULT_ROUTE_KEY) fallback = route;
      else compiled.push(compile(route));
    }
    this.routes = compiled.sort(bySpecificity);
    this.fallback = fallback;
  }

  /** The route API Gateway would choose for `method` and the decoded `path`, or undefined for a 404. */
  public match(method: string, path: string): RouteMatch | undefined {
    const parts = path === '/' ? [] : path.slice(1).split('/');
    const upper = method.toUpperCase();
    for (const candidate of this.routes) {
      if (candidate.method !== upper && candidate.method !== 'ANY') continue;
      const params = bind(candidate.segments, parts);
      if (params === undefined) continue;
      return {
        route: candidate.route,
        routeKey: candidate.route.routeKey,
        ...(Object.keys(params).length === 0 ? {} : { pathParameters: params }),
      };
    }
    return this.fallback === undefined ? undefined : { route: this.fallback, routeKey: DEFAULT_ROUTE_KEY };
  }
}
