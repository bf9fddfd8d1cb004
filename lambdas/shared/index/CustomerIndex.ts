import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/createRedisClient.js';

/** A customer as the global index knows it. */
export interface IndexedCustomer {
  readonly customerId: string;
  readonly email: string | null;
  readonly phone: string | null;
  /** Events recorded for the customer when this state was read; an older state never overwrites a newer. */
  readonly eventCount: number;
}

/** The attributes the index maps to customers. */
export type IndexedKind = 'email' | 'phone';
const INDEXED_KINDS: readonly IndexedKind[] = ['email', 'phone'];

/** One email or phone key and the customer it points at. */
export interface IndexKeyEntry {
  readonly kind: IndexedKind;
  readonly value: string;
  readonly customerId: string;
}

/** A step of a SCAN over the index: the cursor to continue from (`'0'`: done) and the keys seen. */
export interface IndexScanPage {
  readonly cursor: string;
  readonly entries: readonly IndexKeyEntry[];
}

/**
 * Moves a customer's index entries atomically: removes the old email/phone keys (only if they still point
 * at this customer), writes the new ones and remembers them in the customer's hash. A state read before
 * the one already indexed (lower event count) is ignored, so a slow rebuild never undoes a fresh update.
 * KEYS[1] = customer hash. ARGV = key prefix, customerId, email or '', phone or '', event count.
 */
const UPDATE_SCRIPT = `
local prefix, id, email, phone, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local old = redis.call('HMGET', KEYS[1], 'email', 'phone', 'count')
if old[3] and tonumber(old[3]) > count then return 0 end
local function move(kind, before, after)
  if before and before ~= after then
    local key = prefix .. kind .. ':' .. before
    if redis.call('GET', key) == id then redis.call('DEL', key) end
  end
  if after ~= '' then redis.call('SET', prefix .. kind .. ':' .. after, id) end
end
move('email', old[1], email)
move('phone', old[2], phone)
redis.call('HSET', KEYS[1], 'email', email, 'phone', phone, 'count', count)
return 1
`;
/**
 * Deletes an email or phone key that points at a customer whose shard says it no longer holds the value,
 * unless the index has meanwhile recorded a newer state of that customer (a higher event count than the
 * state the shard showed): then the consumer indexed it after the read and the key is right.
 * KEYS[1] = the email/phone key, KEYS[2] = the customer hash. ARGV = customer id, event count read.
 */
const DROP_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local indexed = tonumber(redis.call('HGET', KEYS[2], 'count') or '-1')
if indexed > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const UPDATE = script(UPDATE_SCRIPT);
const DROP = script(DROP_SCRIPT);

const isNoScript = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('NOSCRIPT');

/**
 * The global secondary index in Redis: email → customer and phone → customer, across all shards. The
 * shards stay the source of truth; the index is rebuilt from them whenever it is lost or doubted.
 */
export class CustomerIndex {
  public constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'cdp:idx:',
  ) {}

  /**
   * Writes the entries of several customers (pipelined). Rejects if any update fails; updates are
   * idempotent, so the caller retries the whole set.
   * @throws when Redis is unreachable or times out.
   */
  public async update(customers: readonly IndexedCustomer[]): Promise<void> {
    await Promise.all(customers.map((c) => this.updateOne(c)));
  }

  /** The customer id indexed for an email address (lower-case), if any. */
  public findByEmail(email: string): Promise<string | null> {
    return this.ownerOf('email', email.toLowerCase());
  }

  /** The customer id indexed for an E.164 phone number, if any. */
  public findByPhone(phone: string): Promise<string | null> {
    return this.ownerOf('phone', phone);
  }

  /** The customer id an email or phone key points at, if any (`value` as stored: lower-case email). */
  public async ownerOf(kind: IndexedKind, value: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}${kind}:${value}`);
  }

  /**
   * Writes one customer's entries like {@link update}, unless the index already holds a newer state of
   * that customer (a higher event count): a repair read from a shard never undoes the consumer's update.
   * @returns whether the entries were written.
   * @throws when Redis is unreachable or the command is aborted.
   */
  public async repair(customer: IndexedCustomer): Promise<boolean> {
    return (await this.updateOne(customer)) === 1;
  }

  /**
   * One bounded step of a SCAN over the email and phone keys, with the customer each points at. Start
   * with cursor `'0'`; the walk is over when the returned cursor is `'0'` again. SCAN may return a key
   * twice and a key deleted meanwhile is left out, so callers must be idempotent.
   * @throws when Redis is unreachable or the command is aborted.
   */
  public async scanEntries(cursor: string, count: number): Promise<IndexScanPage> {
    const reply = await this.redis.scan(cursor, { MATCH: `${this.prefix}*`, COUNT: count });
    const keys = reply.keys.flatMap((key) => {
      const rest = key.slice(this.prefix.length);
      const kind = INDEXED_KINDS.find((k) => rest.startsWith(`${k}:`));
      return kind === undefined ? [] : [{ key, kind, value: rest.slice(kind.length + 1) }];
    });
    const owners = keys.length === 0 ? [] : await this.redis.mGet(keys.map((k) => k.key));
    const entries: IndexKeyEntry[] = [];
    keys.forEach((k, i) => {
      const customerId = owners[i];
      if (typeof customerId === 'string') entries.push({ kind: k.kind, value: k.value, customerId });
    });
    return { cursor: String(reply.cursor), entries };
  }

  /** What the index holds for a customer (used by reconciliation). */
  public async entryOf(customerId: string): Promise<IndexedCustomer | null> {
    const hash = await this.redis.hGetAll(`${this.prefix}customer:${customerId}`);
    if (hash.count === undefined) return null;
    return {
      customerId,
      email: hash.email || null,
      phone: hash.phone || null,
      eventCount: Number(hash.count),
    };
  }

  /** Whether a full build of the index has completed since Redis last lost its data. */
  public async isComplete(): Promise<boolean> {
    return (await this.redis.get(`${this.prefix}meta:complete`)) === '1';
  }

  /** Where the rebuild of a shard stands: the last customer id written, `done`, or null (not started). */
  public async rebuildCursor(shardId: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}meta:cursor:${shardId}`);
  }

  public async setRebuildCursor(shardId: string, cursor: string): Promise<void> {
    await this.redis.set(`${this.prefix}meta:cursor:${shardId}`, cursor);
  }

  public async markComplete(): Promise<void> {
    await this.redis.set(`${this.prefix}meta:complete`, '1');
  }

  private async updateOne(customer: IndexedCustomer): Promise<unknown> {
    const options = {
      keys: [`${this.prefix}customer:${customer.customerId}`],
      arguments: [
        this.prefix,
        customer.customerId,
        customer.email ?? '',
        customer.phone ?? '',
        String(customer.eventCount),
      ],
    };
    return this.run(UPDATE, options);
  }

  /**
   * Removes a stale email or phone key (see `DROP_SCRIPT`). `eventCount` is the count of the customer's
   * state as read from its shard, or 0 when the shard has no such customer.
   * @returns whether the key was deleted.
   * @throws when Redis is unreachable or the command is aborted.
   */
  public async dropStale(
    kind: IndexedKind,
    value: string,
    customerId: string,
    eventCount: number,
  ): Promise<boolean> {
    const options = {
      keys: [`${this.prefix}${kind}:${value}`, `${this.prefix}customer:${customerId}`],
      arguments: [customerId, String(eventCount)],
    };
    return (await this.run(DROP, options)) === 1;
  }

  /** Runs a script by its digest, loading it on the first NOSCRIPT (after a restart or a failover). */
  private async run(lua: Script, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    try {
      return await this.redis.evalSha(lua.sha, options);
    } catch (error: unknown) {
      if (!isNoScript(error)) throw error;
      return this.redis.eval(lua.source, options);
    }
  }
}
