// Over 300 lines on purpose: the queue, the dispatch to the brokers and the spill to the spillover share one
// queue and its depth accounting; the policies live in ingestPolicies.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { CircuitState } from 'cockatiel';
import type { Envelope } from '../events/index.js';
import {
  type BrokerPolicies,
  brokerPolicies,
  INGEST_METRICS,
  type IngestPolicySettings,
  ingestPolicySettings,
  isBrokerFailure,
  isProgrammingError,
} from './ingestPolicies.js';
import { BackpressureError, type EventPublisher, PublishError, type SpilloverBuffer } from './publisher.js';

/** What the ingest path needs of Powertools Metrics and Logger; the function's entry point creates and flushes them. */
export type IngestMetrics = Pick<Metrics, 'addMetric'>;
export type IngestLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface ResilientPublisherOptions {
  /** The brokers (KafkaPublisher in AWS, the local log locally). */
  readonly inner: EventPublisher;
  /** Where events go when the brokers cannot take them; durable and bounded. */
  readonly spillover: SpilloverBuffer;
  /** The one topic this publisher serves: the spillover keeps envelopes only, the drainer knows the topic. */
  readonly topic: string;
  readonly settings?: Partial<IngestPolicySettings>;
  /** Shared with the `SpilloverDrainer` of the same process so both see one breaker. */
  readonly policies?: BrokerPolicies;
  /** The entry point's metrics: what is added here reaches CloudWatch only when the entry point flushes it. */
  readonly metrics: IngestMetrics;
  readonly logger: IngestLogger;
}

/** Events handled since construction, by outcome. */
export interface ResilientPublisherStats {
  readonly published: number;
  readonly spilled: number;
  /** Refused with BackpressureError or a PublishError: the caller was told, nothing was accepted. */
  readonly refused: number;
}

interface Request {
  readonly envelopes: readonly Envelope[];
  /** Epoch ms after which the request's events stop trying the brokers and are spilled. */
  readonly deadlineAt: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

type SpillReason =
  | 'spillover-not-empty'
  | 'breaker-open'
  | 'queue-full'
  | 'deadline-passed'
  | 'broker-failure';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An EventPublisher that never loses an accepted event while the brokers are down or slow.
 *
 * Concurrent requests are queued (bounded) and published together, one produce request at a time, with
 * jittered retries under a deadline and a breaker shared with the drainer. When the brokers fail, the
 * breaker is open, or the queue is full, the events are written to the durable spillover instead, and
 * `publish` resolves only once they are published or spilled. A full spillover rejects the request with
 * BackpressureError (503 + Retry-After), storing none of its events: nothing is ever dropped silently.
 *
 * ORDER INVARIANT: while the spillover is not empty, new events are spilled too, never published
 * directly. The drainer republishes the spillover in spill order, so a customer's event accepted after
 * a spilled one cannot overtake it. Within this process the switch is immediate (from the moment a spill
 * starts, before its request is answered); it is switched off only when `depth()` reports 0 and no spill
 * ran meanwhile. Other processes' spills are seen within `spillDepthRefreshMillis` (and the
 * depth of an SQS queue is approximate); the consumer orders each customer's facts by `occurredAt`, so a
 * rare overtaking across processes delays a change, it does not corrupt state. The price of the invariant:
 * after an outage all traffic goes through the spillover until the drainer catches up, so the drain rate
 * must exceed the ingest rate (size `drainChunkEvents` and the drainers accordingly).
 */
export class ResilientPublisher implements EventPublisher {
  public readonly policies: BrokerPolicies;
  private readonly settings: IngestPolicySettings;
  private readonly metrics: IngestMetrics;
  private readonly logger: IngestLogger;
  private readonly queue: Request[] = [];
  private queuedEvents = 0;
  private dispatching: Promise<void> | undefined;
  /** Spills of requests that found the queue full; `close` waits for them too. */
  private readonly directSpills = new Set<Promise<void>>();
  private closed = false;
  /** The spillover depth as this process knows it: last `depth()` plus its own spills since. */
  private knownDepth = 0;
  private depthCheckedAt = Number.NEGATIVE_INFINITY;
  /** Counts spills started, so a depth read that raced with a spill is not trusted to say "empty". */
  private spillSequence = 0;
  private spillsInFlight = 0;
  private readonly counters = { published: 0, spilled: 0, refused: 0 };

  public constructor(private readonly options: ResilientPublisherOptions) {
    this.settings = ingestPolicySettings(options.settings);
    this.policies = options.policies ?? brokerPolicies(this.settings);
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.policies.breaker.onBreak(() => {
      this.metrics.addMetric(INGEST_METRICS.breakerOpen, MetricUnit.Count, 1);
      this.logger.warn('broker breaker opened: events go to the spillover', { topic: options.topic });
    });
  }

  /**
   * Resolves once every envelope is published to the brokers or durably spilled.
   * @throws {BackpressureError} when the spillover is full: none of the envelopes was stored.
   * @throws {PublishError} retriable when neither the brokers nor the spillover took them; fatal when the
   * brokers refused them for good, for another topic, or after `close`.
   */
  public publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    if (this.closed || topic !== this.options.topic) {
      const reason = this.closed
        ? 'publisher is closed'
        : `publisher serves topic ${this.options.topic} only`;
      return Promise.reject(
        new PublishError(reason, false, { topic, events: envelopes.length, code: 'REFUSED' }),
      );
    }
    if (envelopes.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const request: Request = {
        envelopes,
        deadlineAt: Date.now() + this.settings.publishDeadlineMillis,
        resolve,
        reject,
      };
      if (this.queuedEvents + envelopes.length > this.settings.queueMaxEvents) {
        const spilling = this.spill([request], 'queue-full');
        this.directSpills.add(spilling);
        void spilling.finally(() => this.directSpills.delete(spilling));
        return;
      }
      this.queue.push(request);
      this.queuedEvents += envelopes.length;
      this.dispatch();
    });
  }

  /** Events by outcome since construction. */
  public stats(): ResilientPublisherStats {
    return { ...this.counters };
  }

  /** Finishes the queued requests (published or spilled), then closes the inner publisher. */
  public async close(): Promise<void> {
    this.closed = true;
    while (this.dispatching !== undefined) await this.dispatching;
    await Promise.all([...this.directSpills]);
    await this.options.inner.close();
  }

  private dispatch(): void {
    if (this.dispatching !== undefined) return;
    this.dispatching = this.drainQueue().finally(() => {
      this.dispatching = undefined;
      if (this.queue.length > 0) this.dispatch();
    });
  }

  /** One produce request at a time, so batches leave in arrival order. */
  private async drainQueue(): Promise<void> {
    while (this.queue.length > 0) {
      if (this.queuedEvents < this.settings.batchMaxEvents && this.settings.batchLingerMillis > 0) {
        await sleep(this.settings.batchLingerMillis);
      }
      const batch = this.takeBatch();
      try {
        await this.route(batch);
      } catch (error: unknown) {
        // route settles every request itself; this only guards against a bug leaving callers hanging.
        for (const request of batch) request.reject(error);
      }
    }
  }

  private takeBatch(): Request[] {
    const batch: Request[] = [];
    let events = 0;
    for (;;) {
      const next = this.queue[0];
      if (next === undefined) break;
      if (batch.length > 0 && events + next.envelopes.length > this.settings.batchMaxEvents) break;
      this.queue.shift();
      batch.push(next);
      events += next.envelopes.length;
    }
    this.queuedEvents -= events;
    return batch;
  }

  private async route(batch: readonly Request[]): Promise<void> {
    if (await this.spilloverNotEmpty()) return this.spill(batch, 'spillover-not-empty');
    if (this.policies.breaker.state === CircuitState.Open) return this.spill(batch, 'breaker-open');
    const envelopes = batch.flatMap((request) => request.envelopes);
    const remaining = Math.min(...batch.map((request) => request.deadlineAt)) - Date.now();
    // Waited in the queue for its whole deadline (behind a hung produce): no time left to try the brokers.
    if (remaining <= 0) return this.spill(batch, 'deadline-passed');
    try {
      await this.policies.publish(
        () => this.options.inner.publish(this.options.topic, envelopes),
        AbortSignal.timeout(remaining),
      );
    } catch (error: unknown) {
      return this.afterPublishFailure(batch, error);
    }
    this.counters.published += envelopes.length;
    for (const request of batch) request.resolve();
  }

  private async afterPublishFailure(batch: readonly Request[], error: unknown): Promise<void> {
    const events = batch.reduce((sum, request) => sum + request.envelopes.length, 0);
    if (isProgrammingError(error)) {
      this.refuse(batch, error);
      return;
    }
    this.metrics.addMetric(INGEST_METRICS.publishErrors, MetricUnit.Count, 1);
    if (isBrokerFailure(error)) {
      this.logger.warn('publish failed: spilling', { topic: this.options.topic, events, error });
      return this.spill(batch, 'broker-failure');
    }
    // The brokers refused the batch for good: find the request at fault instead of failing its neighbours.
    if (batch.length > 1) {
      for (const request of batch) await this.route([request]);
      return;
    }
    this.logger.error('publish refused by the brokers', { topic: this.options.topic, events, error });
    this.refuse(batch, error);
  }

  /**
   * Writes the requests' events to the spillover and settles them. All requests together first; when the
   * spillover is too full for all, each on its own, so those that fit are still accepted.
   */
  private async spill(batch: readonly Request[], reason: SpillReason): Promise<void> {
    try {
      await this.spillEvents(batch.flatMap((request) => request.envelopes));
      for (const request of batch) request.resolve();
      return;
    } catch (error: unknown) {
      if (!(error instanceof BackpressureError) || batch.length === 1) {
        this.refuse(batch, this.spillFailure(batch, reason, error));
        return;
      }
    }
    for (const request of batch) {
      try {
        await this.spillEvents(request.envelopes);
        request.resolve();
      } catch (error: unknown) {
        this.refuse([request], this.spillFailure([request], reason, error));
      }
    }
  }

  private async spillEvents(envelopes: readonly Envelope[]): Promise<void> {
    this.spillSequence += 1;
    this.spillsInFlight += 1;
    try {
      await this.policies.spill(() => this.options.spillover.spill(envelopes));
      this.knownDepth += envelopes.length;
      this.counters.spilled += envelopes.length;
      this.metrics.addMetric(INGEST_METRICS.spilled, MetricUnit.Count, envelopes.length);
    } finally {
      this.spillsInFlight -= 1;
    }
  }

  private spillFailure(batch: readonly Request[], reason: SpillReason, error: unknown): unknown {
    const events = batch.reduce((sum, request) => sum + request.envelopes.length, 0);
    if (error instanceof BackpressureError) {
      this.metrics.addMetric(INGEST_METRICS.backpressure, MetricUnit.Count, events);
      return error;
    }
    if (isProgrammingError(error)) return error;
    this.logger.error('spillover write failed: request refused', { reason, events, error });
    return new PublishError(
      'events could be neither published nor spilled',
      true,
      { topic: this.options.topic, events, code: 'SPILL_FAILED' },
      { cause: error },
    );
  }

  private refuse(batch: readonly Request[], error: unknown): void {
    for (const request of batch) {
      this.counters.refused += request.envelopes.length;
      request.reject(error);
    }
  }

  /** Whether the spillover holds events, re-read at most every `spillDepthRefreshMillis`. */
  private async spilloverNotEmpty(): Promise<boolean> {
    // A spill under way counts: its events may be stored (and answered) before this batch would be published.
    if (this.spillsInFlight > 0) return true;
    if (Date.now() - this.depthCheckedAt < this.settings.spillDepthRefreshMillis) return this.knownDepth > 0;
    const sequence = this.spillSequence;
    try {
      const depth = await this.options.spillover.depth();
      this.metrics.addMetric(INGEST_METRICS.spillDepth, MetricUnit.Count, depth);
      const raced = sequence !== this.spillSequence || this.spillsInFlight > 0;
      this.knownDepth = raced ? Math.max(depth, this.knownDepth) : depth;
    } catch (error: unknown) {
      // Unknown depth: keep the last view (spilling while unsure keeps the order, publishing keeps latency).
      this.logger.warn('spillover depth unavailable', { error });
    }
    this.depthCheckedAt = Date.now();
    return this.knownDepth > 0;
  }
}
