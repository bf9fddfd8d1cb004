import { randomUUID } from 'node:crypto';
import type { MSKEvent } from 'aws-lambda';
import type { Envelope } from '../events/index.js';
import type { ShardRouter } from '../sharding/index.js';

/** Customers of this prefix belong to the deployment probes; queries, the ETL and the index skip them. */
export const PROBE_CUSTOMER_PREFIX = 'cdp-probe-';

/** The SQL condition that leaves probe customers out (customer ids never hold `%` or `_` wildcards here). */
export const NOT_A_PROBE_CUSTOMER = `customer_id NOT LIKE '${PROBE_CUSTOMER_PREFIX}%'`;

/** Whether a customer id belongs to the probes. */
export const isProbeCustomer = (customerId: string): boolean => customerId.startsWith(PROBE_CUSTOMER_PREFIX);

/** The probe customer of each shard: the first `cdp-probe-<n>` the router places on it. */
export function probeCustomers(router: ShardRouter, shardIds: readonly string[]): Map<string, string> {
  const customers = new Map<string, string>();
  for (let n = 0; customers.size < shardIds.length && n < 100_000; n += 1) {
    const id = `${PROBE_CUSTOMER_PREFIX}${n}`;
    const shard = router.shardFor(id).id;
    if (shardIds.includes(shard) && !customers.has(shard)) customers.set(shard, id);
  }
  return customers;
}

/** One probe event per customer: a profile change whose given name is the run's nonce. */
export function probeEvents(customers: Iterable<string>, nonce: string, now: Date): Envelope[] {
  return [...customers].map((customerId) => ({
    eventId: randomUUID(),
    type: 'customer.profile-changed',
    version: 1,
    customerId,
    occurredAt: now.toISOString(),
    payload: { givenName: nonce },
    source: 'deployment-probe',
  }));
}

/** The MSK event the consumer receives for the probe events (one partition of `topic`, offsets from 0). */
export function probeMskEvent(topic: string, events: readonly Envelope[], eventSourceArn: string): MSKEvent {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    eventSource: 'aws:kafka',
    eventSourceArn,
    bootstrapServers: 'deployment-probe',
    records: {
      [`${topic}-0`]: events.map((event, offset) => ({
        topic,
        partition: 0,
        offset,
        timestamp: Date.parse(event.occurredAt),
        timestampType: 'CREATE_TIME',
        key: base64(event.customerId),
        value: base64(JSON.stringify(event)),
        headers: [],
      })),
    },
  };
}

export interface ConsumerProbeDependencies {
  /** Invokes the version under test with an MSK event; resolves with its response. */
  readonly invoke: (event: MSKEvent) => Promise<unknown>;
  /** The given name of a customer on a shard, as the shard holds it. */
  readonly readGivenName: (shardId: string, customerId: string) => Promise<string | null>;
  readonly router: ShardRouter;
  readonly shardIds: readonly string[];
  readonly topic: string;
  readonly eventSourceArn: string;
  readonly now?: () => Date;
}

export interface ProbeReport {
  readonly passed: boolean;
  /** What went wrong, per shard or for the invocation; empty when passed. */
  readonly problems: readonly string[];
}

/**
 * The consumer's pre-traffic check: a probe event for a reserved probe customer on every shard, applied by
 * the version under test, then read back from every shard. Fails on an error, on a partial batch response,
 * and on a value that did not arrive as sent (a version that writes a wrong value without throwing).
 */
export async function runConsumerProbe(deps: ConsumerProbeDependencies): Promise<ProbeReport> {
  const customers = probeCustomers(deps.router, deps.shardIds);
  const nonce = `probe-${randomUUID().slice(0, 8)}`;
  const events = probeEvents(customers.values(), nonce, (deps.now ?? (() => new Date()))());
  const problems: string[] = [];
  const missing = deps.shardIds.filter((shard) => !customers.has(shard));
  if (missing.length > 0) problems.push(`no probe customer for ${missing.join(', ')}`);
  let response: unknown;
  try {
    response = await deps.invoke(probeMskEvent(deps.topic, events, deps.eventSourceArn));
  } catch (error: unknown) {
    return { passed: false, problems: [`the version failed the probe batch: ${String(error)}`] };
  }
  const failures =
    typeof response === 'object' && response !== null && 'batchItemFailures' in response
      ? response.batchItemFailures
      : [];
  if (Array.isArray(failures) && failures.length > 0)
    problems.push(`the version reported ${failures.length} probe record(s) failed`);
  for (const [shardId, customerId] of customers) {
    const stored = await deps.readGivenName(shardId, customerId);
    if (stored !== nonce)
      problems.push(`${shardId}: ${customerId} holds ${JSON.stringify(stored)}, not ${nonce}`);
  }
  return { passed: problems.length === 0, problems };
}
