import type { Envelope } from '../../lambdas/shared/events/index.js';
import { type EventPublisher, PublishError } from '../../lambdas/shared/ingest/publisher.js';
import { type LocalLog, LocalLogError } from '../log/index.js';

/** `refuse`: connection refused at once. `hang`: the call stalls until the fault clears or times out. */
export type BrokerFault = 'none' | 'refuse' | 'hang';

export interface FaultyLocalBrokerOptions {
  /** How long a call may hang before it fails like a produce request timing out (default 30 s). */
  readonly hangTimeoutMillis?: number;
}

/** Calls and events seen by the broker, by what happened to them. */
export interface BrokerStats {
  readonly appendedEvents: number;
  readonly refusedCalls: number;
  readonly hungCalls: number;
  /** Hung calls that completed their append once the fault cleared, after their caller may have given up. */
  readonly lateAppends: number;
}

/**
 * The local log playing the brokers, with a fault switch for drills. Healthy, it appends each envelope to
 * the topic as the producer does to MSK (key = customerId, value = the JSON envelope).
 *
 * A hung call behaves like a produce request stuck on a broker: when the fault clears it completes its
 * append, even if its caller abandoned it at a deadline meanwhile (the events then reach the topic twice,
 * once more through the spillover; consumers are idempotent on eventId). It fails with a retriable
 * timeout after `hangTimeoutMillis` or on `close`.
 *
 * Readers of the topic (the consumer) should open their own LocalLog instance on the directory, as a
 * separate process would: an instance must not read a partition while it appends to it.
 */
export class FaultyLocalBroker implements EventPublisher {
  private current: BrokerFault = 'none';
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private readonly counters = { appendedEvents: 0, refusedCalls: 0, hungCalls: 0, lateAppends: 0 };
  private readonly hangTimeoutMillis: number;

  public constructor(
    public readonly log: LocalLog,
    options: FaultyLocalBrokerOptions = {},
  ) {
    this.hangTimeoutMillis = options.hangTimeoutMillis ?? 30_000;
  }

  public get fault(): BrokerFault {
    return this.current;
  }

  /** Switches the fault; leaving `hang` releases the hung calls (into the new state). */
  public setFault(fault: BrokerFault): void {
    this.current = fault;
    if (fault !== 'hang') this.release();
  }

  public stats(): BrokerStats {
    return { ...this.counters };
  }

  /**
   * Appends the envelopes to `topic`, or fails as the fault says.
   * @throws {PublishError} retriable: connection refused, timed out while hanging, or closed; as the log
   * says for a failed append (fatal for a missing topic or a corrupt partition).
   */
  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    let hung = false;
    for (;;) {
      if (this.closed) throw this.failure(topic, envelopes, 'broker connection closed', 'ECONNRESET');
      if (this.current === 'refuse') {
        this.counters.refusedCalls += 1;
        throw this.failure(topic, envelopes, 'connect ECONNREFUSED: broker unavailable', 'ECONNREFUSED');
      }
      if (this.current === 'none') break;
      if (!hung) this.counters.hungCalls += 1;
      hung = true;
      if (!(await this.waitForChange())) {
        throw this.failure(topic, envelopes, 'produce request timed out', 'REQUEST_TIMED_OUT');
      }
    }
    if (envelopes.length === 0) return;
    try {
      await this.log.append(
        topic,
        envelopes.map((envelope) => ({ key: envelope.customerId, value: JSON.stringify(envelope) })),
      );
    } catch (error: unknown) {
      const retriable = error instanceof LocalLogError && error.retriable;
      const code = error instanceof Error ? error.name : 'UNKNOWN';
      const message = error instanceof Error ? error.message : 'append failed';
      throw new PublishError(message, retriable, { topic, events: envelopes.length, code }, { cause: error });
    }
    this.counters.appendedEvents += envelopes.length;
    if (hung) this.counters.lateAppends += 1;
  }

  /** Fails every hung call and every later one. */
  public async close(): Promise<void> {
    this.closed = true;
    this.release();
  }

  /** Resolves true when the fault changes (or the broker closes), false after the hang timeout. */
  private waitForChange(): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(false);
      }, this.hangTimeoutMillis);
      this.waiters.add(wake);
    });
  }

  private release(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private failure(
    topic: string,
    envelopes: readonly Envelope[],
    message: string,
    code: string,
  ): PublishError {
    return new PublishError(message, true, { topic, events: envelopes.length, code });
  }
}
