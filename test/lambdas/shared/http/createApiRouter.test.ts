import { describe, expect, it } from 'vitest';
import { type ApiRoute, createApiRouter } from '../../../../lambdas/shared/http/index.js';
import { callApi } from '../../../support/httpApi.js';

/** Routes that answer with what they were given, so a test sees the request as a route sees it. */
const echo = (method: string, path: string): ApiRoute => ({
  method,
  path,
  handle: async (request) => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      route: `${method} ${path}`,
      path: request.path,
      params: request.params,
      headers: request.headers,
      body: typeof request.body === 'string' ? request.body : `bytes:${request.body.length}`,
    }),
  }),
});

const failing: ApiRoute = {
  method: 'GET',
  path: '/v1/failing',
  handle: async () => {
    throw new Error('connection refused by 10.0.0.12');
  },
};

const api = () =>
  createApiRouter(
    [echo('GET', '/v1/items/{itemId}'), echo('POST', '/v1/items'), echo('GET', '/v1/items'), failing],
    {
      onError: () => ({
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"internal","message":"failed"}',
      }),
    },
  );

const bodyOf = (response: { body: string }) => JSON.parse(response.body);

describe('createApiRouter', () => {
  it('routes a named stage by the path after its prefix', async () => {
    const response = await callApi(api(), { method: 'GET', path: '/v1/items/i-1', stage: 'prod' });

    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ path: '/v1/items/i-1', params: { itemId: 'i-1' } });
  });

  it('hands a route a parameter holding "?", "#" or "%" as API Gateway decoded it', async () => {
    const responses = await Promise.all(
      ['a?b', 'a#b', '50%off', 'a b'].map((id) => callApi(api(), { method: 'GET', path: `/v1/items/${id}` })),
    );

    expect(responses.map((r) => bodyOf(r).params.itemId)).toEqual(['a?b', 'a#b', '50%off', 'a b']);
  });

  it('passes headers in lower case and a body that is not UTF-8 as bytes', async () => {
    const response = await callApi(api(), {
      method: 'POST',
      path: '/v1/items',
      headers: { 'Content-Type': 'application/json', Host: 'not a host name' },
      body: Buffer.from([0xff, 0xfe]),
    });

    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({
      headers: { 'content-type': 'application/json', host: 'not a host name' },
      body: 'bytes:2',
    });
  });

  it('answers an unknown path with 404 not-found in the shared shape', async () => {
    const response = await callApi(api(), { method: 'GET', path: '/v2/items/' });

    expect(response.statusCode).toBe(404);
    expect(bodyOf(response)).toEqual({ error: 'not-found', message: 'No route /v2/items' });
  });

  it('answers another method on a known path with 405 and every allowed method in Allow', async () => {
    const collection = await callApi(api(), { method: 'DELETE', path: '/v1/items' });
    const item = await callApi(api(), { method: 'PUT', path: '/v1/items/i-1' });

    expect([collection.statusCode, item.statusCode]).toEqual([405, 405]);
    expect([collection.headers.allow, item.headers.allow]).toEqual(['POST, GET', 'GET']);
    expect(bodyOf(collection)).toEqual({
      error: 'method-not-allowed',
      message: 'DELETE is not allowed on /v1/items; use POST, GET',
    });
  });

  it('answers an empty path parameter with 400 validation', async () => {
    const response = await callApi(api(), { method: 'GET', path: '/v1/items/%20' });

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'validation', issues: [{ path: '(path)' }] });
  });

  it("answers a route's failure with the API's own mapping, never the error", async () => {
    const response = await callApi(api(), { method: 'GET', path: '/v1/failing' });

    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('10.0.0.12');
  });

  it('refuses two routes with the same method and path, and a method HTTP APIs do not route', () => {
    const onError = () => ({ statusCode: 500, headers: {}, body: '' });

    expect(() => createApiRouter([echo('GET', '/v1/x'), echo('get', '/v1/x/')], { onError })).toThrow(
      RangeError,
    );
    expect(() => createApiRouter([echo('FETCH', '/v1/x')], { onError })).toThrow(RangeError);
  });
});
