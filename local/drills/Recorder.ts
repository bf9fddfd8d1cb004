import type { AlarmRule, FaultWindow, Timeline } from './types.js';

/** What a drill reads at each sample: running totals and the current gauges. */
export interface Reading {
  /** Events offered so far (cumulative). */
  readonly offered: number;
  /** Events applied so far (cumulative). */
  readonly applied: number;
  /** Errors so far (cumulative): failed calls, failed invocations, 503s. */
  readonly errors: number;
  /** Records waiting to be consumed now. */
  readonly lag: number;
  /** Breaker open, fallback mode or spill depth now: 0 on the normal path. */
  readonly degraded: number;
}

const DEFAULT_INTERVAL_MILLIS = 500;

const percentile99 = (values: readonly number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] ?? null;
};

/**
 * Samples a drill's readings on a fixed interval into a timeline, and keeps its fault windows and marks.
 * A reading that fails (a lag query while the brokers are down) repeats the previous one.
 */
export class Recorder {
  private readonly started = performance.now();
  /** When the recorder was created, as epoch milliseconds. */
  public readonly startedAtEpochMillis = Date.now();
  private readonly timeline: Timeline = {
    t: [],
    inPerSecond: [],
    appliedPerSecond: [],
    lag: [],
    errorsPerSecond: [],
    degraded: [],
    p99Millis: [],
  };
  private readonly windows: FaultWindow[] = [];
  private open: { label: string; from: number } | undefined;
  private readonly marks = new Map<string, number>();
  private latencies: number[] = [];
  private previous: Reading & { at: number } = {
    offered: 0,
    applied: 0,
    errors: 0,
    lag: 0,
    degraded: 0,
    at: 0,
  };
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  public constructor(
    private readonly read: () => Reading | Promise<Reading>,
    private readonly intervalMillis = DEFAULT_INTERVAL_MILLIS,
  ) {}

  /** Seconds since the recorder was created. */
  public now(): number {
    return (performance.now() - this.started) / 1_000;
  }

  /** An epoch time in milliseconds as seconds since the recorder was created. */
  public at(epochMillis: number): number {
    return (epochMillis - this.startedAtEpochMillis) / 1_000;
  }

  public start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await new Promise((resolve) => setTimeout(resolve, this.intervalMillis));
        await this.sample();
      }
    })();
  }

  /** Stops sampling after one last sample; returns the timeline. */
  public async stop(): Promise<Timeline> {
    if (this.running) {
      this.running = false;
      await this.loop;
      await this.sample();
    }
    if (this.open) this.faultEnded();
    return this.timeline;
  }

  /** One latency of the affected path, for this sample's p99. */
  public latency(millis: number): void {
    this.latencies.push(millis);
  }

  public faultStarted(label: string): void {
    this.open = { label, from: this.now() };
  }

  public faultEnded(): void {
    if (this.open === undefined) return;
    this.windows.push({ ...this.open, to: this.now() });
    this.open = undefined;
  }

  public get faults(): FaultWindow[] {
    return [...this.windows];
  }

  /** Notes when something happened (first call wins); returns its time in seconds. */
  public mark(name: string): number {
    if (!this.marks.has(name)) this.marks.set(name, this.now());
    return this.marks.get(name) ?? this.now();
  }

  public markOf(name: string): number | undefined {
    return this.marks.get(name);
  }

  private async sample(): Promise<void> {
    const at = this.now();
    const reading = await Promise.resolve()
      .then(() => this.read())
      .catch(() => this.previous);
    const dt = Math.max(at - this.previous.at, 1e-3);
    const t = this.timeline;
    t.t.push(Number(at.toFixed(2)));
    t.inPerSecond.push(Math.round((reading.offered - this.previous.offered) / dt));
    t.appliedPerSecond.push(Math.round((reading.applied - this.previous.applied) / dt));
    t.errorsPerSecond.push(Math.round((reading.errors - this.previous.errors) / dt));
    t.lag.push(reading.lag);
    t.degraded.push(reading.degraded);
    const p99 = percentile99(this.latencies);
    t.p99Millis.push(p99 === null ? null : Number(p99.toFixed(1)));
    this.latencies = [];
    this.previous = { ...reading, at };
  }
}

/**
 * When the alarm condition first held for its datapoints, at or after `from` (seconds), on the samples;
 * null when it never did.
 */
export function alarmTime(timeline: Timeline, rule: AlarmRule, from: number): number | null {
  let run = 0;
  const values = timeline[rule.series];
  for (const [i, t] of timeline.t.entries()) {
    const value = values[i];
    const breaching =
      value !== null &&
      value !== undefined &&
      (rule.comparison === '>' ? value > rule.threshold : value >= rule.threshold);
    run = breaching ? run + 1 : 0;
    if (run >= rule.datapoints && t >= from) return t;
  }
  return null;
}

export const peak = (values: ReadonlyArray<number | null>): number | null => {
  const measured = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return measured.length === 0 ? null : Math.max(...measured);
};
