import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** How long each chunk waits before it is forwarded. */
export interface Delay {
  readonly latencyMs: number;
  /** Each chunk gets a uniformly random extra delay in `[-jitterMs, +jitterMs]`, never below zero in total. */
  readonly jitterMs: number;
}

/** No delay: chunks are written as soon as they arrive. */
export const NO_DELAY: Delay = { latencyMs: 0, jitterMs: 0 };

/**
 * Bytes one direction may hold in its delay queue before it stops reading from its source. Reading stops, the
 * kernel buffers fill and the sender slows down, as it would on a slow link, instead of the proxy growing without
 * bound.
 */
export const MAX_QUEUED_BYTES = 1024 * 1024;

interface Pending {
  readonly due: number;
  /** `null` stands for the end of the stream (a FIN), delivered in order after the data before it. */
  readonly chunk: Buffer | null;
}

/**
 * One direction of a proxied connection: reads from `source`, holds each chunk for the current delay and writes it
 * to `destination` in arrival order. Reading pauses while the destination needs a drain, while the queue is full
 * and while the channel is held, so backpressure reaches the sender.
 */
export class Channel {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private held = false;
  private stopped = false;
  private endQueued = false;
  private awaitingDrain = false;
  private sourcePaused = true;

  public constructor(
    private readonly source: Socket,
    private readonly destination: Socket,
    private readonly delay: () => Delay,
    private readonly forwarded: (bytes: number) => void,
  ) {
    // Attaching 'data' would switch the stream to flowing; reading starts only once the link is complete.
    source.pause();
    source.on('data', (chunk: Buffer) => this.accept(chunk));
    source.on('end', () => this.finish());
    destination.on('drain', () => {
      this.awaitingDrain = false;
      this.deliverDue();
    });
  }

  /** Starts reading from the source. */
  public start(): void {
    this.started = true;
    this.updateFlow();
  }

  /** Stops reading and forwarding; whatever is queued or arrives later stays in the proxy. */
  public hold(): void {
    this.held = true;
    this.clearTimer();
    this.updateFlow();
  }

  /** Queues the end of the stream after the data already queued; the destination is then half-closed. */
  public finish(): void {
    if (this.endQueued || this.stopped) return;
    this.endQueued = true;
    this.enqueue(null);
  }

  /**
   * Drops the queue and forwards nothing more. An unheld source keeps being read (and discarded) so its end is
   * still noticed and the socket can close.
   */
  public stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (!this.held && !this.source.destroyed) {
      this.sourcePaused = false;
      this.source.resume();
    }
  }

  private accept(chunk: Buffer): void {
    if (this.stopped) return;
    this.enqueue(chunk);
  }

  private enqueue(chunk: Buffer | null): void {
    const { latencyMs, jitterMs } = this.delay();
    const now = performance.now();
    if (latencyMs === 0 && jitterMs === 0 && this.queue.length === 0 && this.lastDue <= now) {
      if (!this.held && !this.awaitingDrain) {
        this.write(chunk);
        return;
      }
    }
    const jitter = jitterMs === 0 ? 0 : (Math.random() * 2 - 1) * jitterMs;
    // A chunk never overtakes the one before it, whatever its own jitter: the byte stream must stay in order.
    const due = Math.max(now + Math.max(0, latencyMs + jitter), this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    this.queuedBytes += chunk?.length ?? 0;
    this.deliverDue();
  }

  private deliverDue(): void {
    this.clearTimer();
    if (this.stopped) return;
    const now = performance.now();
    while (!this.held && !this.awaitingDrain) {
      const next = this.queue[0];
      if (next === undefined || next.due > now) break;
      this.queue.shift();
      this.queuedBytes -= next.chunk?.length ?? 0;
      this.write(next.chunk);
    }
    this.schedule(now);
    this.updateFlow();
  }

  private schedule(now: number): void {
    const next = this.queue[0];
    if (next === undefined || this.held || this.awaitingDrain || this.stopped) return;
    // Timers may fire a fraction of a millisecond early; deliverDue checks again and reschedules.
    this.timer = setTimeout(() => this.deliverDue(), Math.max(0, Math.ceil(next.due - now)));
  }

  private write(chunk: Buffer | null): void {
    const destination = this.destination;
    if (destination.destroyed || destination.writableEnded) return;
    if (chunk === null) {
      destination.end();
      return;
    }
    this.forwarded(chunk.length);
    if (!destination.write(chunk)) this.awaitingDrain = true;
  }

  private updateFlow(): void {
    if (this.stopped || this.source.destroyed) return;
    const pause = !this.started || this.held || this.awaitingDrain || this.queuedBytes >= MAX_QUEUED_BYTES;
    if (pause && !this.sourcePaused) {
      this.sourcePaused = true;
      this.source.pause();
    } else if (!pause && this.sourcePaused) {
      this.sourcePaused = false;
      this.source.resume();
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
