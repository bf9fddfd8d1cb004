import { alarmTime, peak } from './Recorder.js';
import type { AlarmRule, Bound, Counts, DrillResult, FaultWindow, ScenarioId, Timeline } from './types.js';

export interface Outcome<D> {
  readonly scenario: ScenarioId;
  readonly section: number;
  readonly title: string;
  readonly backend: string;
  readonly counts: Counts;
  readonly alarm: AlarmRule;
  readonly bound: Bound;
  readonly affectedPath: string;
  readonly timeline: Timeline;
  readonly faults: FaultWindow[];
  /** When the platform was back to normal, in seconds since the start; undefined when it never was. */
  readonly recoveredAt: number | undefined;
  /** When the alarm fired, where the drill evaluates the template's own alarm itself (seconds). */
  readonly detectedAt?: number | undefined;
  readonly wallSeconds: number;
  /** Problems the drill found beyond loss, duplicates and the bound (a wrong answer, a missed check). */
  readonly problems?: readonly string[];
  readonly details: D;
}

/**
 * Scores a drill: time to detect (the alarm condition evaluated on the samples), time to recover against
 * the bound, peaks; it fails on any loss, duplicate effect, missed bound or named problem.
 */
export function score<D>(outcome: Outcome<D>): DrillResult<D> {
  const first = outcome.faults[0];
  const last = outcome.faults.at(-1);
  const detectedAt =
    outcome.detectedAt ?? (first ? alarmTime(outcome.timeline, outcome.alarm, first.from) : null);
  const recoverSeconds =
    outcome.recoveredAt === undefined || last === undefined
      ? null
      : Math.max(0, outcome.recoveredAt - last.to);
  const problems = [...(outcome.problems ?? [])];
  const { counts, bound } = outcome;
  if (counts.lost > 0 && !problems.some((p) => p.startsWith('lost')))
    problems.push(`lost ${counts.lost} accepted event(s)`);
  if (counts.duplicateEffects > 0 && !problems.some((p) => p.includes('duplicate')))
    problems.push(`${counts.duplicateEffects} duplicate effect(s)`);
  if (recoverSeconds === null) problems.push('never recovered');
  else if (recoverSeconds > bound.recoverWithinSeconds)
    problems.push(
      `recovered in ${recoverSeconds.toFixed(1)} s, past its bound of ${bound.recoverWithinSeconds} s`,
    );
  return {
    scenario: outcome.scenario,
    section: outcome.section,
    title: outcome.title,
    backend: outcome.backend,
    counts,
    alarm: outcome.alarm,
    detectSeconds: detectedAt === null || first === undefined ? null : round(detectedAt - first.from),
    recoverSeconds: recoverSeconds === null ? null : round(recoverSeconds),
    peakLag: peak(outcome.timeline.lag) ?? 0,
    affectedPath: outcome.affectedPath,
    peakP99Millis: peak(outcome.timeline.p99Millis),
    bound,
    problems,
    passed: problems.length === 0,
    wallSeconds: round(outcome.wallSeconds),
    timeline: outcome.timeline,
    faults: outcome.faults.map((f) => ({ ...f, from: round(f.from), to: round(f.to) })),
    details: outcome.details,
  };
}

const round = (seconds: number): number => Number(seconds.toFixed(2));
