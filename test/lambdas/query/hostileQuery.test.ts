import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import { createQueryApi } from '../../../lambdas/query/routes.js';
import type { Customer, CustomerQueries } from '../../../lambdas/shared/query/index.js';
import { callApi } from '../../support/httpApi.js';

/** Answers every look-up with "no such customer": these requests must never reach it anyway. */
const nobody: CustomerQueries = {
  getById: async (): Promise<Customer | null> => null,
  findByEmail: async (): Promise<Customer | null> => null,
  findByPhone: async (): Promise<Customer | null> => null,
};

const logger = new Logger({ serviceName: 'query', logLevel: 'SILENT' });

/** Query parameters as the HTTP API decodes them: every name an own property, `__proto__` included. */
const search = (entries: ReadonlyArray<[string, string]>) =>
  callApi(createQueryApi({ customers: nobody, logger }), {
    method: 'GET',
    path: '/v1/customers',
    query: Object.fromEntries(entries),
  });

describe('query API with parameter names that shadow Object.prototype', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    'answers 400 with a JSON message for ?%s=x',
    async (name) => {
      const response = await search([[name, 'x']]);

      expect(response.statusCode).toBe(400);
      const body = JSON.parse(response.body);
      expect(body).toMatchObject({ error: 'validation', message: expect.any(String) });
      const issues: { path: string }[] = body.issues;
      expect(issues.filter((issue) => issue.path === name)).toEqual([
        { path: name, message: 'is not a supported parameter' },
      ]);
    },
  );

  it('answers 400 naming both the unknown parameter and the missing key', async () => {
    const response = await search([
      ['constructor', 'x'],
      ['email', 'ada@example.com'],
      ['phone', '+447700900123'],
    ]);

    expect(response.statusCode).toBe(400);
    const issues: { path: string }[] = JSON.parse(response.body).issues;
    expect([...new Set(issues.map((issue) => issue.path))].sort()).toEqual(['constructor', 'email', 'phone']);
  });
});
