/** The nine scenarios of the failure table, by the name the `drill` command takes. */
export const SCENARIOS = [
  'kafka-outage',
  'consumer-crash',
  'shard-failover',
  'redis-outage',
  'slow-shard',
  'volume-spike',
  'bad-deployment',
  'network-partition',
  'etl-failure',
] as const;

export type ScenarioId = (typeof SCENARIOS)[number];

/** Size and duration of a drill run; each runner has its own defaults. */
export interface DrillOptions {
  /** Events (or customers, for the query drills) the drill offers. */
  readonly events?: number;
  /** How long the fault lasts, in seconds. */
  readonly seconds?: number;
  /**
   * Test-only: drop one accepted event on its way to the stream, to prove the scorecard catches a loss.
   * Honoured by the drills that carry events.
   */
  readonly injectLoss?: boolean;
}

/** Live progress: one line saying what the drill is doing now. */
export type Progress = (message: string) => void;

/** A time range of the fault, in seconds since the drill started. */
export interface FaultWindow {
  readonly label: string;
  readonly from: number;
  readonly to: number;
}

/** Per-sample readings; rates are per second over the sample interval, `null` where nothing was measured. */
export interface Timeline {
  /** Seconds since the drill started. */
  readonly t: number[];
  readonly inPerSecond: number[];
  readonly appliedPerSecond: number[];
  readonly lag: number[];
  readonly errorsPerSecond: number[];
  /** Breaker open, fallback mode or spill depth: 0 when the platform runs its normal path. */
  readonly degraded: number[];
  readonly p99Millis: Array<number | null>;
}

export type TimelineSeries = Exclude<keyof Timeline, 't'>;

/** An alarm as CloudWatch evaluates it, on the drill's samples instead of one-minute periods. */
export interface AlarmRule {
  /** The alarm of the templates this stands for. */
  readonly name: string;
  readonly series: TimelineSeries;
  readonly comparison: '>' | '>=';
  readonly threshold: number;
  /** Consecutive breaching samples that put it in ALARM. */
  readonly datapoints: number;
}

export interface Counts {
  readonly offered: number;
  readonly accepted: number;
  readonly applied: number;
  readonly lost: number;
  readonly duplicateEffects: number;
  readonly deadLettered: number;
}

/** The scenario's stated bound: recovered within this long after the fault ended. */
export interface Bound {
  readonly description: string;
  readonly recoverWithinSeconds: number;
}

export interface DrillResult<D = unknown> {
  readonly scenario: ScenarioId;
  /** The section of docs' failure table (1-9). */
  readonly section: number;
  readonly title: string;
  /** What the drill ran on, said plainly (the local log where Kafka is not available). */
  readonly backend: string;
  readonly counts: Counts;
  readonly alarm: AlarmRule;
  /** From the fault's start until the alarm condition became true; null when it never did. */
  readonly detectSeconds: number | null;
  /** From the fault's end until the platform was back to normal (caught up, index warm, breaker closed). */
  readonly recoverSeconds: number | null;
  readonly peakLag: number;
  /** The path the fault hits, whose p99 is reported. */
  readonly affectedPath: string;
  readonly peakP99Millis: number | null;
  readonly bound: Bound;
  /** Everything that fails the drill, each naming what went wrong; empty when it passed. */
  readonly problems: string[];
  readonly passed: boolean;
  readonly wallSeconds: number;
  readonly timeline: Timeline;
  readonly faults: FaultWindow[];
  /** The scenario's own readings, which its test asserts on. */
  readonly details: D;
}

export interface ScenarioDefinition {
  readonly id: ScenarioId;
  readonly section: number;
  readonly title: string;
  readonly run: (options: DrillOptions, progress: Progress) => Promise<DrillResult>;
}
