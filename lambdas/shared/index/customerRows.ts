import { NOT_A_PROBE_CUSTOMER } from '../probes/consumerProbe.js';
import { type SqlClient, SqlJson } from '../sql/index.js';
import type { IndexedCustomer } from './CustomerIndex.js';

/** What the index needs of a customer row; the event count orders states of one customer. */
const COLUMNS = 'customer_id, email, phone, event_count::float8 AS event_count';

const PAGE = `
  SELECT ${COLUMNS}
  FROM customers
  WHERE customer_id > :after AND ${NOT_A_PROBE_CUSTOMER}
  ORDER BY customer_id
  LIMIT :limit`;

const BY_ID = `
  SELECT ${COLUMNS}
  FROM customers
  WHERE customer_id IN (SELECT jsonb_array_elements_text(:ids::jsonb))`;

type CustomerRow = {
  customer_id: string;
  email: string | null;
  phone: string | null;
  event_count: number;
};

const toCustomer = (r: CustomerRow): IndexedCustomer => ({
  customerId: r.customer_id,
  email: r.email,
  phone: r.phone,
  eventCount: Number(r.event_count),
});

/**
 * One keyset page of a shard's customers: up to `limit` with an id after `after` (`''`: from the
 * start), in id order.
 * @throws what the SQL client throws (classified `SqlError`s).
 */
export async function customerPage(
  client: SqlClient,
  after: string,
  limit: number,
): Promise<IndexedCustomer[]> {
  const result = await client.query<CustomerRow>(PAGE, { after, limit });
  return result.rows.map(toCustomer);
}

/**
 * The customers of one shard with the given ids, in one query; ids with no row are left out.
 * @throws what the SQL client throws (classified `SqlError`s).
 */
export async function customersById(client: SqlClient, ids: readonly string[]): Promise<IndexedCustomer[]> {
  if (ids.length === 0) return [];
  const result = await client.query<CustomerRow>(BY_ID, { ids: new SqlJson([...ids]) });
  return result.rows.map(toCustomer);
}
