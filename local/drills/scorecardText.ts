import type { DrillResult } from './types.js';

/** The fields of a scorecard, without the timelines and the scenario's own readings. */
export function scorecardOf(result: DrillResult) {
  return {
    scenario: result.scenario,
    section: result.section,
    title: result.title,
    backend: result.backend,
    passed: result.passed,
    problems: result.problems,
    ...result.counts,
    timeToDetectSeconds: result.detectSeconds,
    detectedBy: result.alarm.name,
    timeToRecoverSeconds: result.recoverSeconds,
    bound: result.bound,
    peakLag: result.peakLag,
    affectedPath: result.affectedPath,
    peakP99Millis: result.peakP99Millis,
    wallSeconds: result.wallSeconds,
  };
}

const s = (value: number | null): string => (value === null ? '—' : `${value.toFixed(1)}s`);

/** The scorecards as a fixed-width table, then each failure's problems. */
export function scorecardTable(results: readonly DrillResult[]): string {
  const header = [
    '§',
    'scenario',
    'result',
    'offered',
    'accepted',
    'applied',
    'lost',
    'dup',
    'DLQ',
    'detect',
    'recover',
    'bound',
    'peak lag',
    'peak p99',
    'wall',
  ];
  const rows = results.map((r) => [
    String(r.section),
    r.scenario,
    r.passed ? 'PASS' : 'FAIL',
    String(r.counts.offered),
    String(r.counts.accepted),
    String(r.counts.applied),
    String(r.counts.lost),
    String(r.counts.duplicateEffects),
    String(r.counts.deadLettered),
    s(r.detectSeconds),
    s(r.recoverSeconds),
    `${r.bound.recoverWithinSeconds}s`,
    String(r.peakLag),
    r.peakP99Millis === null ? '—' : `${Math.round(r.peakP99Millis)}ms`,
    `${Math.round(r.wallSeconds)}s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const r of results) {
    out.push('', `§${r.section} ${r.title} — ${r.backend}`);
    for (const p of r.problems) out.push(`  FAIL: ${p}`);
  }
  return out.join('\n');
}
