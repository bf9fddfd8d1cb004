import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  type BrokerPolicies,
  brokerPolicies,
  INGEST_METRICS,
  type IngestPolicySettings,
  ingestPolicySettings,
  isProgrammingError,
} from './ingestPolicies.js';
import type { EventPublisher, SpilloverBuffer } from './publisher.js';
import type { IngestLogger, IngestMetrics } from './ResilientPublisher.js';

export interface SpilloverDrainerOptions {
  readonly spillover: SpilloverBuffer;
  /** The brokers the spilled events are republished to. */
  readonly inner: EventPublisher;
  readonly topic: string;
  readonly settings?: Partial<IngestPolicySettings>;
  /**
   * The publisher's policies when both run in one process (`resilientPublisher.policies`), so that a probe
   * failing here keeps the publisher spilling and the other way round. Own policies otherwise.
   */
  readonly policies?: BrokerPolicies;
  /** The entry point's metrics, flushed by it. */
  readonly metrics: IngestMetrics;
  readonly logger: IngestLogger;
}

/** What one pass did. */
export interface DrainPass {
  /** Events republished and acknowledged in this pass. */
  readonly drained: number;
  /** The pass ended because the spillover was empty (otherwise a failure or `stop` ended it). */
  readonly emptied: boolean;
  /** The failure that ended the pass: the brokers (or the spillover) are not healthy yet. */
  readonly error?: unknown;
}

/**
 * Republishes spilled events once the brokers are healthy again.
 *
 * Each step publishes the oldest chunk of the spillover (the first one is the probe of the brokers) and
 * acknowledges it only after the brokers took it, so events leave the spillover in spill order and are
 * never lost: a crash between publish and acknowledge republishes the chunk (at-least-once; consumers
 * deduplicate on eventId). A failed step ends the pass; `start` retries after a full-jitter exponential
 * backoff, and the shared breaker keeps the publisher spilling meanwhile.
 *
 * A non-retriable refusal of a chunk stops the drain the same way (spilled events were validated before
 * they were accepted, so such a refusal is a configuration fault to fix, not a reason to drop them).
 */
export class SpilloverDrainer {
  private readonly settings: IngestPolicySettings;
  private readonly policies: BrokerPolicies;
  private readonly metrics: IngestMetrics;
  private readonly logger: IngestLogger;
  private pass: Promise<DrainPass> | undefined;
  private loop: Promise<void> | undefined;
  private stopping: AbortController | undefined;

  public constructor(private readonly options: SpilloverDrainerOptions) {
    this.settings = ingestPolicySettings(options.settings);
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.policies = options.policies ?? brokerPolicies(this.settings);
    if (options.policies === undefined) {
      // Shared policies report their breaker through the publisher that owns them.
      this.policies.breaker.onBreak(() =>
        this.metrics.addMetric(INGEST_METRICS.breakerOpen, MetricUnit.Count, 1),
      );
    }
  }

  /**
   * Drains until the spillover is empty or a step fails. Concurrent calls share one pass.
   * @throws {TypeError|RangeError} unchanged: a bug, not an unhealthy broker.
   */
  public drainOnce(): Promise<DrainPass> {
    this.pass ??= this.runPass().finally(() => {
      this.pass = undefined;
    });
    return this.pass;
  }

  /** Drains in the background: after an empty pass every `drainIdleIntervalMillis`, after a failure with backoff. */
  public start(): void {
    if (this.loop !== undefined) return;
    const stopping = new AbortController();
    this.stopping = stopping;
    this.loop = this.run(stopping.signal);
  }

  /** Ends the background drain after the current step; nothing is acknowledged that was not published. */
  public async stop(): Promise<void> {
    this.stopping?.abort();
    await this.loop;
    this.loop = undefined;
    this.stopping = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let backoff = this.policies.drainBackoff();
    while (!signal.aborted) {
      let delay = this.settings.drainIdleIntervalMillis;
      try {
        const pass = await this.drainOnce();
        if (pass.error === undefined) {
          backoff = this.policies.drainBackoff();
        } else {
          delay = backoff.duration;
          backoff = backoff.next(undefined);
        }
      } catch (error: unknown) {
        this.logger.error('spillover drain failed unexpectedly', { error });
        delay = this.settings.drainBackoffMaxMillis;
      }
      await pause(delay, signal);
    }
  }

  private async runPass(): Promise<DrainPass> {
    const started = performance.now();
    let drained = 0;
    const finish = (pass: DrainPass): DrainPass => {
      const seconds = (performance.now() - started) / 1_000;
      // Every pass reports what it drained, 0 included: the drain-stalled alarm reads a missing minute as 0.
      this.metrics.addMetric(INGEST_METRICS.drained, MetricUnit.Count, drained);
      if (drained > 0) {
        this.metrics.addMetric(INGEST_METRICS.drainRate, MetricUnit.CountPerSecond, drained / seconds);
        this.logger.info('spilled events republished', { drained, seconds, emptied: pass.emptied });
      }
      return pass;
    };
    for (;;) {
      if (this.stopping?.signal.aborted) return finish({ drained, emptied: false });
      let step: number;
      try {
        step = await this.step();
      } catch (error: unknown) {
        if (isProgrammingError(error)) throw error;
        this.metrics.addMetric(INGEST_METRICS.publishErrors, MetricUnit.Count, 1);
        this.logger.warn('spillover drain paused: brokers or spillover unavailable', { drained, error });
        return finish({ drained, emptied: false, error });
      }
      if (step === 0) {
        this.metrics.addMetric(INGEST_METRICS.spillDepth, MetricUnit.Count, 0);
        return finish({ drained, emptied: true });
      }
      drained += step;
    }
  }

  /** Republishes the oldest chunk, then acknowledges it; returns its size (0: the spillover is empty). */
  private async step(): Promise<number> {
    const chunk = await this.options.spillover.peek(this.settings.drainChunkEvents);
    if (chunk.length === 0) return 0;
    const envelopes = chunk.map((spilled) => spilled.envelope);
    await this.policies.probe(() => this.options.inner.publish(this.options.topic, envelopes));
    await this.options.spillover.acknowledge(chunk.map((spilled) => spilled.receipt));
    return chunk.length;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
