import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/createRedisClient.js';
import type { LookupKind } from './types.js';

/** The key layout of `CustomerIndex`, which owns it. */
const PREFIX = 'cdp:idx:';

/**
 * Deletes an email or phone key that points at a customer whose shard says it no longer holds the value,
 * unless the index has meanwhile recorded a newer state of that customer (a higher event count than the
 * state the shard showed): then the consumer indexed it after our read and the key is right.
 * KEYS[1] = the email/phone key, KEYS[2] = the customer hash. ARGV = customer id, event count read.
 */
const DROP_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local indexed = tonumber(redis.call('HGET', KEYS[2], 'count') or '-1')
if indexed > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;
const DROP_SHA = createHash('sha1').update(DROP_SCRIPT).digest('hex');

const isNoScript = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('NOSCRIPT');

/**
 * Removes a stale index key (see `DROP_SCRIPT`). `eventCount` is the count of the customer's state as
 * read from its shard, or 0 when the shard has no such customer.
 * @returns whether the key was deleted.
 * @throws when Redis is unreachable or the command is aborted.
 */
export async function dropStaleKey(
  redis: RedisClient,
  kind: LookupKind,
  value: string,
  customerId: string,
  eventCount: number,
): Promise<boolean> {
  const options = {
    keys: [`${PREFIX}${kind}:${value}`, `${PREFIX}customer:${customerId}`],
    arguments: [customerId, String(eventCount)],
  };
  try {
    return (await redis.evalSha(DROP_SHA, options)) === 1;
  } catch (error: unknown) {
    if (!isNoScript(error)) throw error;
    return (await redis.eval(DROP_SCRIPT, options)) === 1;
  }
}
