import { setMaxListeners } from 'node:events';
import { CircuitState } from 'cockatiel';
import { CustomerIndex } from '../index/CustomerIndex.js';
import { type RedisClient, withDeadline } from '../redis/createRedisClient.js';
import type { QuerySettings } from '../resilience/defaults.js';
import { type RedisReadPolicy, redisReadPolicy } from '../resilience/named.js';

/** The Redis index behind its policies (see `redisReadPolicy`): every command has a deadline and a breaker. */
export class GuardedIndex {
  private readonly guard: RedisReadPolicy;

  public constructor(
    public readonly redis: RedisClient,
    settings: QuerySettings,
    /** Passed to every policy (see `CustomerQueryService`). */
    private readonly signal: AbortSignal,
  ) {
    this.guard = redisReadPolicy(settings);
  }

  /**
   * Whether to try Redis at all: it is connected, and no breaker probe is running (look-ups do not queue
   * behind a probe). An open breaker is not checked here: it fails the command at once, and only a command
   * tried after the break lets the breaker half-open and close again.
   */
  public usable(): boolean {
    return this.redis.isReady && this.guard.breaker.state !== CircuitState.HalfOpen;
  }

  public get isReady(): boolean {
    return this.redis.isReady;
  }

  public get breakerState(): string {
    return CircuitState[this.guard.breaker.state];
  }

  /**
   * Runs `work` on the index (and the raw client, for scripts of its own) under the policies.
   * @throws whatever Redis throws, `TaskCancelledError` on timeout, `BrokenCircuitError` while bypassed.
   */
  public run<T>(work: (index: CustomerIndex, client: RedisClient) => Promise<T>): Promise<T> {
    return this.guard.policy.execute(({ signal }) => {
      // A batch of commands listens to one signal.
      setMaxListeners(0, signal);
      const client = withDeadline(this.redis, signal);
      return work(new CustomerIndex(client), client);
    }, this.signal);
  }
}
