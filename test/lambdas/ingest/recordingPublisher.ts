import type { Envelope } from '../../../lambdas/shared/events/index.js';
import type { EventPublisher } from '../../../lambdas/shared/ingest/publisher.js';

/** An in-memory {@link EventPublisher}: records every publish, or fails with what a test queued. */
export class RecordingPublisher implements EventPublisher {
  public readonly calls: Array<{ readonly topic: string; readonly envelopes: readonly Envelope[] }> = [];
  private readonly failures: unknown[] = [];
  private gate: Promise<void> | undefined;
  public closed = false;

  /** Every envelope published so far, in order. */
  public get published(): Envelope[] {
    return this.calls.flatMap((c) => [...c.envelopes]);
  }

  /** The next publish throws `error` (and publishes nothing). */
  public failNextWith(error: unknown): void {
    this.failures.push(error);
  }

  /** Publishes wait until the returned function is called. */
  public hold(): () => void {
    let release: () => void = () => undefined;
    this.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.gate = undefined;
      release();
    };
  }

  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    if (this.gate !== undefined) await this.gate;
    if (this.failures.length > 0) throw this.failures.shift();
    this.calls.push({ topic, envelopes: structuredClone([...envelopes]) });
  }

  public async close(): Promise<void> {
    this.closed = true;
  }
}
