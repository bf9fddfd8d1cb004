import { z } from 'zod';
import { ROUTES, versionedPath } from '../../shared/contracts/index.js';
import type { Address } from '../../shared/customers/attributes.js';
import { customerIdSchema, emailSchema, phoneSchema } from '../../shared/events/schemas.js';
import type { Customer, CustomerQueries } from '../../shared/query/index.js';
import { type HttpResponse, invalid, json, problem, type Route } from '../http.js';

/** The v1 representation of a customer. Mapped field by field so that the domain can evolve behind it. */
export interface CustomerV1 {
  readonly customerId: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly address: Address | null;
  readonly registeredAt: string | null;
  readonly erased: boolean;
}

export const toCustomerV1 = (c: Customer): CustomerV1 => ({
  customerId: c.customerId,
  email: c.email,
  phone: c.phone,
  givenName: c.givenName,
  familyName: c.familyName,
  address: c.address,
  registeredAt: c.registeredAt,
  erased: c.erased,
});

const byIdParams = z.object({ customerId: customerIdSchema });

/** An unencoded `+` in a query string may arrive decoded as a space. */
const phoneParam = z
  .string()
  .transform((value) => value.replace(/^ (?=\d)/, '+'))
  .pipe(phoneSchema);

const ONE_KEY = 'give exactly one of email or phone';

/** The same canonical forms as the events (lower-case email, E.164 phone), so look-ups match the index. */
const searchQuery = z
  .strictObject({ email: emailSchema.optional(), phone: phoneParam.optional() })
  .superRefine((query, ctx) => {
    if ((query.email === undefined) === (query.phone === undefined)) {
      ctx.addIssue({ code: 'custom', message: ONE_KEY, path: ['email'] });
      ctx.addIssue({ code: 'custom', message: ONE_KEY, path: ['phone'] });
    }
  });

const found = (customer: Customer | null): HttpResponse =>
  customer === null
    ? problem(404, 'not-found', 'No customer matches.')
    : json(200, { customer: toCustomerV1(customer) });

/** `GET /v1/customers/{customerId}`. */
async function getCustomer(
  customers: CustomerQueries,
  params: Readonly<Record<string, string>>,
): Promise<HttpResponse> {
  const parsed = byIdParams.safeParse(params);
  if (!parsed.success) return invalid(parsed.error);
  return found(await customers.getById(parsed.data.customerId));
}

/** `GET /v1/customers?email=...` or `GET /v1/customers?phone=...`. */
async function searchCustomers(
  customers: CustomerQueries,
  query: Readonly<Record<string, string | undefined>>,
): Promise<HttpResponse> {
  const parsed = searchQuery.safeParse(query);
  if (!parsed.success) return invalid(parsed.error);
  const { email, phone } = parsed.data;
  if (email !== undefined) return found(await customers.findByEmail(email));
  if (phone !== undefined) return found(await customers.findByPhone(phone));
  throw new RangeError('search query passed validation without email or phone');
}

export const CUSTOMERS_V1: readonly Route[] = [
  {
    method: ROUTES.customerById.method,
    path: versionedPath(ROUTES.customerById),
    handle: ({ customers, params }) => getCustomer(customers, params),
  },
  {
    method: ROUTES.customerLookup.method,
    path: versionedPath(ROUTES.customerLookup),
    // The Router ignores a trailing slash: `/v1/customers/` names an empty customer id, refused as such.
    handle: ({ customers, path, query }) =>
      path.endsWith('/') ? getCustomer(customers, { customerId: '' }) : searchCustomers(customers, query),
  },
];
