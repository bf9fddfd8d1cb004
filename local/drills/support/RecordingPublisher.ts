import type { Envelope } from '../../../lambdas/shared/events/index.js';
import {
  BackpressureError,
  type EventPublisher,
  PublishError,
} from '../../../lambdas/shared/ingest/publisher.js';

/** Passes publishes through, keeping every BackpressureError the API turned into a 503. */
export class RecordingPublisher implements EventPublisher {
  public readonly backpressure: Array<{ error: BackpressureError; events: number }> = [];
  /** Retriable refusals other than a full spillover: a spill write that outlived its deadline under load. */
  public readonly spillFailures: PublishError[] = [];

  public constructor(private readonly inner: EventPublisher) {}

  public async publish(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    try {
      await this.inner.publish(topic, envelopes);
    } catch (error: unknown) {
      if (error instanceof BackpressureError) this.backpressure.push({ error, events: envelopes.length });
      else if (error instanceof PublishError && error.retriable) this.spillFailures.push(error);
      throw error;
    }
  }

  public close(): Promise<void> {
    return this.inner.close();
  }
}
