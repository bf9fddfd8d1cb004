import {
  classifyLag,
  decideScaling,
  type LagSignal,
  type LagThresholds,
  type ScalingDecision,
  type ScalingPolicy,
} from '../../lambdas/shared/scaling/index.js';
import { sleep } from '../services/waitFor.js';

/** One look of the scaler at the lag, and what it decided. */
export interface ScalingSample {
  readonly at: number;
  readonly lag: number;
  readonly signal: LagSignal;
  readonly members: number;
  readonly decision: ScalingDecision;
}

export interface LocalScalerOptions {
  readonly policy: ScalingPolicy;
  readonly thresholds: LagThresholds;
  /** Consecutive low readings before the lag counts as low: the local counterpart of `lowLagMinutes`. */
  readonly lowLagSamples: number;
  readonly intervalMillis: number;
  /** Members running at the start. */
  readonly initial: number;
  /** The consumer group's total lag (records). */
  readonly lag: () => Promise<number>;
  /** Brings the number of members to `members`. */
  readonly scaleTo: (members: number) => Promise<void>;
  readonly onSample?: (sample: ScalingSample) => void;
}

/**
 * The lag scaler of AWS (`lambdas/shared/scaling`) driving local consumer-group members instead of a
 * mapping's pollers: the same classification and the same decision code, fed by the group's lag read from
 * the cluster every interval, low lag counted as such only after `lowLagSamples` readings in a row (as the
 * low-lag alarm needs `lowLagMinutes` of datapoints).
 */
export class LocalScaler {
  private running: Promise<void> | undefined;
  private stopping = false;
  private members: number;
  private lastChangedAt: number | undefined;
  private lowReadings = 0;

  public constructor(private readonly options: LocalScalerOptions) {
    this.members = options.initial;
  }

  public get current(): number {
    return this.members;
  }

  public start(): void {
    this.stopping = false;
    this.running ??= this.loop();
  }

  /** Stops deciding; the members stay as they are. */
  public async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      await this.turn();
      await sleep(this.options.intervalMillis);
    }
  }

  private async turn(): Promise<void> {
    const lag = await this.options.lag();
    const reading = classifyLag(lag, this.options.thresholds);
    this.lowReadings = reading === 'low' ? this.lowReadings + 1 : 0;
    const signal: LagSignal =
      reading === 'low' ? (this.lowReadings >= this.options.lowLagSamples ? 'low' : 'normal') : reading;
    const now = Date.now();
    const decision = decideScaling(
      this.options.policy,
      { current: this.members, lastChangedAt: this.lastChangedAt },
      signal,
      now,
    );
    if (decision.action !== 'hold') {
      await this.options.scaleTo(decision.target);
      this.members = decision.target;
      this.lastChangedAt = now;
    }
    this.options.onSample?.({ at: now, lag, signal, members: this.members, decision });
  }
}
