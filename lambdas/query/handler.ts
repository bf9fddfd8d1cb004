import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { METRIC_NAMESPACE, SERVICES } from '../shared/contracts/index.js';
import type { HttpApi } from '../shared/http/index.js';
import { flushStoredMetrics } from '../shared/powertools/flushStoredMetrics.js';
import { lambdaHandler } from '../shared/powertools/lambdaHandler.js';
import type { CustomerQueries } from '../shared/query/index.js';
import { elastiCacheFrom } from '../shared/redis/elastiCacheFromEnvironment.js';
import { parseShardMap } from '../shared/sharding/index.js';
import { type WiredQueryService, wireQueryService } from './dependencies.js';
import { readQueryEnvironment } from './environment.js';
import { problem } from './http.js';
import { createQueryApi } from './routes.js';

const logger = new Logger({ serviceName: 'query' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICES.query });
const tracer = new Tracer({ serviceName: 'query' });

/**
 * Built once per execution environment: the shard map from the Data stack (JSON in SHARD_MAP), Redis from
 * the cache endpoint with its AUTH token from Secrets Manager. The fallback cache and the breakers live as
 * long as the environment.
 */
async function wireFromEnvironment(): Promise<WiredQueryService> {
  const env = readQueryEnvironment();
  return wireQueryService({
    shardMap: parseShardMap(env.shardMap),
    redis: await elastiCacheFrom(env.redis),
    logger,
    metrics,
  });
}

let wired: Promise<WiredQueryService> | undefined;

/**
 * Wires on first use; a failed wiring is retried by the next request.
 * @throws whatever the wiring throws (a missing variable, an unreadable secret, an invalid shard map).
 */
function service(): Promise<WiredQueryService> {
  wired ??= wireFromEnvironment().catch((error: unknown) => {
    wired = undefined;
    throw error;
  });
  return wired;
}

/** One router per wired service, built on first use. */
const apis = new WeakMap<CustomerQueries, HttpApi>();

function apiFor(customers: CustomerQueries): HttpApi {
  let api = apis.get(customers);
  if (api === undefined) {
    api = createQueryApi({ customers, logger });
    apis.set(customers, api);
  }
  return api;
}

/** Entry point of the HTTP API (payload format 2.0): `GET /v1/customers/{customerId}` and `GET /v1/customers`. */
export const handler = lambdaHandler(
  async (event: APIGatewayProxyEventV2, context): Promise<APIGatewayProxyResultV2> => {
    let customers: WiredQueryService['service'];
    try {
      customers = (await service()).service;
    } catch (error: unknown) {
      logger.error('query function could not be wired', { error });
      return problem(500, 'internal', 'The request could not be processed.');
    }
    const response = await apiFor(customers).resolve(event, context);
    if (response.statusCode !== undefined) tracer.putAnnotation('status', response.statusCode);
    return response;
  },
)
  .use(injectLambdaContext(logger))
  .use(captureLambdaHandler(tracer, { captureResponse: false }))
  .use(flushStoredMetrics(metrics));
