import type { Logger } from '@aws-lambda-powertools/logger';
import { ROUTES, versionedPath } from '../shared/contracts/index.js';
import {
  type ApiRequest,
  type ApiResponse,
  type ApiRoute,
  createApiRouter,
  errorResponse,
  type HttpApi,
} from '../shared/http/index.js';
import type { IngestResponse, IngestService } from '../shared/ingest/IngestService.js';
import type { RequestShape } from '../shared/ingest/validation.js';

const toApiResponse = (response: IngestResponse): ApiResponse => ({
  statusCode: response.status,
  headers: response.headers,
  body: response.body,
});

/**
 * The routes of API version 1. A later version gets its own function beside this one, with its own
 * paths under `/v2`, so `/v1` keeps its contract.
 */
export function v1Routes(service: Pick<IngestService, 'accept'>): ApiRoute[] {
  const accept =
    (shape: RequestShape) =>
    async (request: ApiRequest): Promise<ApiResponse> =>
      toApiResponse(
        await service.accept({
          shape,
          body: request.body,
          idempotencyKey: request.headers['idempotency-key'],
          contentType: request.headers['content-type'],
          context: request.context,
        }),
      );
  return [
    { method: ROUTES.ingestOne.method, path: versionedPath(ROUTES.ingestOne), handle: accept('single') },
    { method: ROUTES.ingestBatch.method, path: versionedPath(ROUTES.ingestBatch), handle: accept('batch') },
  ];
}

/**
 * The ingest API on the Powertools Router. The service answers every failure of its own; anything else
 * that escapes a route is a bug, answered 500 without detail.
 *
 * @throws {RangeError} when two routes have the same method and path.
 */
export function createRouter(routes: readonly ApiRoute[], logger?: Logger): HttpApi {
  return createApiRouter(routes, {
    logger,
    onError: (error) => {
      logger?.error('ingest route failed', { error });
      return errorResponse(500, 'internal', 'The events could not be accepted');
    },
  });
}
