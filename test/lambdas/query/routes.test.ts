import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { json, type Route } from '../../../lambdas/query/http.js';
import { createQueryApi, ROUTES } from '../../../lambdas/query/routes.js';
import { requestOf } from '../../../lambdas/shared/http/index.js';
import {
  type Customer,
  type CustomerQueries,
  OverloadedError,
  ShardUnavailableError,
} from '../../../lambdas/shared/query/index.js';
import { callApi } from '../../support/httpApi.js';

const ada: Customer = {
  customerId: 'cust-1',
  email: 'ada@example.com',
  phone: '+447700900123',
  givenName: 'Ada',
  familyName: 'Lovelace',
  address: { line1: '1 High Street', city: 'Leeds', postalCode: 'LS1 1AA', country: 'GB' },
  registeredAt: '2026-01-01T00:00:00.000Z',
  erased: false,
};

/** An in-memory stand-in for the query service: records the calls, answers from a list or fails. */
class FakeCustomers implements CustomerQueries {
  public readonly calls: string[] = [];

  public constructor(
    private readonly customers: readonly Customer[] = [ada],
    private readonly failure?: unknown,
  ) {}

  public async getById(customerId: string) {
    return this.answer(`id:${customerId}`, (c) => c.customerId === customerId);
  }

  public async findByEmail(email: string) {
    return this.answer(`email:${email}`, (c) => c.email === email);
  }

  public async findByPhone(phone: string) {
    return this.answer(`phone:${phone}`, (c) => c.phone === phone);
  }

  private answer(call: string, match: (c: Customer) => boolean): Customer | null {
    this.calls.push(call);
    if (this.failure !== undefined) throw this.failure;
    return this.customers.find(match) ?? null;
  }
}

const logger = new Logger({ serviceName: 'query', logLevel: 'SILENT' });

const get = (path: string, query: Record<string, string> = {}, customers = new FakeCustomers()) =>
  callApi(createQueryApi({ customers, logger }), { method: 'GET', path, query });

const bodyOf = (response: { body: string }): unknown => JSON.parse(response.body);

function apiEvent(rawPath: string, stage: string, method = 'GET'): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: 'email=ada%40example.com',
    headers: {},
    queryStringParameters: { email: 'ada@example.com' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '111111111111',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId: 'request-1',
      routeKey: '$default',
      stage,
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 1_767_225_600_000,
    },
  };
}

describe('query API routes (v1)', () => {
  it('returns a customer by id as v1 JSON that no cache may keep', async () => {
    const response = await get('/v1/customers/cust-1');

    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({
      'content-type': 'application/json',
      'cache-control': 'no-store',
    });
    expect(bodyOf(response)).toEqual({ customer: ada });
  });

  it('finds a customer by email in lower case, and by phone', async () => {
    const customers = new FakeCustomers();

    const byEmail = await get('/v1/customers', { email: 'Ada@Example.COM' }, customers);
    const byPhone = await get('/v1/customers', { phone: '+447700900123' }, customers);

    expect([byEmail.statusCode, byPhone.statusCode]).toEqual([200, 200]);
    expect(bodyOf(byPhone)).toEqual({ customer: ada });
    expect(customers.calls).toEqual(['email:ada@example.com', 'phone:+447700900123']);
  });

  it('takes a phone whose unencoded "+" arrived as a space', async () => {
    const customers = new FakeCustomers();

    const response = await get('/v1/customers', { phone: ' 447700900123' }, customers);

    expect(response.statusCode).toBe(200);
    expect(customers.calls).toEqual(['phone:+447700900123']);
  });

  it('answers 404 when no customer matches', async () => {
    const byId = await get('/v1/customers/cust-2');
    const byEmail = await get('/v1/customers', { email: 'nobody@example.com' });

    expect([byId.statusCode, byEmail.statusCode]).toEqual([404, 404]);
    expect(bodyOf(byId)).toEqual({ error: 'not-found', message: 'No customer matches.' });
  });

  it.each([
    ['a space', '/v1/customers/bad%20id'],
    ['65 characters', `/v1/customers/${'a'.repeat(65)}`],
    ['malformed percent-encoding', '/v1/customers/bad%E0%A4%A'],
    ['nothing', '/v1/customers/'],
  ])('rejects a customer id of %s with 400 naming the field', async (_, path) => {
    const customers = new FakeCustomers();

    const response = await get(path, {}, customers);

    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({
      error: 'validation',
      issues: [{ path: 'customerId', message: expect.stringContaining('1-64 characters') }],
    });
    expect(customers.calls).toEqual([]);
  });

  it.each([
    ['neither email nor phone', {}, ['email', 'phone']],
    ['both email and phone', { email: 'ada@example.com', phone: '+447700900123' }, ['email', 'phone']],
    ['an invalid email', { email: 'not-an-email' }, ['email']],
    ['a phone that is not E.164', { phone: '07700 900123' }, ['phone']],
    ['an unknown parameter', { email: 'ada@example.com', name: 'Ada' }, ['name']],
  ])('rejects a search with %s with 400 and field errors', async (_, query, fields) => {
    const customers = new FakeCustomers();

    const response = await get('/v1/customers', query, customers);

    expect(response.statusCode).toBe(400);
    const body = bodyOf(response) as { issues: { path: string }[] };
    expect([...new Set(body.issues.map((issue) => issue.path))].sort()).toEqual(fields);
    expect(customers.calls).toEqual([]);
  });

  it.each([
    ['the fallback path is full', new OverloadedError('full', 1), '1'],
    ['a shard cannot be asked', new ShardUnavailableError(['shard-3'], 'circuit-open', 5), '5'],
    ['a shard asks for a fractional wait', new ShardUnavailableError(['shard-3'], 'timeout', 0.2), '1'],
  ])('answers 503 with Retry-After when %s, naming no shard', async (_, failure, retryAfter) => {
    const response = await get('/v1/customers', { email: 'ada@example.com' }, new FakeCustomers([], failure));

    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe(retryAfter);
    expect(response.body).not.toContain('shard');
  });

  it('answers 500 without internals for any other failure', async () => {
    const failure = new Error('relation "customers" does not exist at 10.0.0.12');

    const response = await get('/v1/customers/cust-1', {}, new FakeCustomers([], failure));

    expect(response.statusCode).toBe(500);
    expect(bodyOf(response)).toEqual({
      error: 'internal',
      message: 'The request could not be processed.',
    });
  });

  it('answers 404 for an unknown route and 405 with Allow for another method on a known one', async () => {
    const customers = new FakeCustomers();

    const unknown = await get('/v2/customers/cust-1', {}, customers);
    const deleted = await callApi(createQueryApi({ customers, logger }), {
      method: 'DELETE',
      path: '/v1/customers/cust-1',
    });

    const unrouted = await callApi(createQueryApi({ customers, logger }), {
      method: 'PROPFIND',
      path: '/v1/customers/cust-1',
    });

    expect(unknown.statusCode).toBe(404);
    expect(deleted.statusCode).toBe(405);
    expect(deleted.headers.allow).toBe('GET');
    expect(unrouted.statusCode).toBe(405);
    expect([
      unknown.headers['cache-control'],
      deleted.headers['cache-control'],
      unrouted.headers['cache-control'],
    ]).toEqual(['no-store', 'no-store', 'no-store']);
    expect(customers.calls).toEqual([]);
  });

  it('serves a new version beside v1 without changing v1', async () => {
    const v2: Route = {
      method: 'GET',
      path: '/v2/customers/{customerId}',
      handle: async ({ customers, params }) =>
        json(200, { data: await customers.getById(params.customerId ?? '') }),
    };
    const customers = new FakeCustomers();

    const api = createQueryApi({ customers, logger }, [...ROUTES, v2]);

    const newer = await callApi(api, { method: 'GET', path: '/v2/customers/cust-1' });
    const older = await callApi(api, { method: 'GET', path: '/v1/customers/cust-1' });

    expect(bodyOf(newer)).toEqual({ data: ada });
    expect(bodyOf(older)).toEqual({ customer: ada });
  });

  it('reads the path without the stage prefix of a named stage', () => {
    expect(requestOf(apiEvent('/prod/v1/customers', 'prod')).path).toBe('/v1/customers');
    expect(requestOf(apiEvent('/v1/customers', '$default')).path).toBe('/v1/customers');
    expect(requestOf(apiEvent('/v1/customers', 'prod', 'get'))).toEqual({
      method: 'GET',
      path: '/v1/customers',
      params: {},
      query: { email: 'ada@example.com' },
      headers: {},
      body: '',
      context: undefined,
    });
  });
});
