import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DrillResult } from './types.js';

const require = createRequire(import.meta.url);

/** uPlot's browser build and stylesheet, read from the pinned package: the report needs no network. */
function uplotAssets(): { script: string; style: string } {
  return {
    script: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    style: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON that is safe inside a <script> element. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

const seconds = (value: number | null): string => (value === null ? '—' : `${value.toFixed(1)} s`);

function scorecardRows(result: DrillResult): string {
  const c = result.counts;
  const rows: Array<[string, string]> = [
    ['Ran on', result.backend],
    ['Events offered / accepted / applied', `${c.offered} / ${c.accepted} / ${c.applied}`],
    ['Lost / duplicate effects / dead-lettered', `${c.lost} / ${c.duplicateEffects} / ${c.deadLettered}`],
    ['Time to detect', `${seconds(result.detectSeconds)} (${result.alarm.name})`],
    ['Time to recover', `${seconds(result.recoverSeconds)} (bound: ${result.bound.description})`],
    ['Peak lag', String(result.peakLag)],
    [`Peak p99 (${result.affectedPath})`, result.peakP99Millis === null ? '—' : `${result.peakP99Millis} ms`],
  ];
  return rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
}

/**
 * One self-contained HTML page: per drill its scorecard and three timelines (events in vs applied,
 * lag, errors with the breaker / fallback / spill state), the fault window shaded. uPlot is inlined.
 */
export function renderReport(results: readonly DrillResult[], generatedAt = new Date()): string {
  const { script, style } = uplotAssets();
  const sections = results
    .map((r, i) => {
      const verdict = r.passed ? 'PASS' : 'FAIL';
      const problems =
        r.problems.length === 0
          ? ''
          : `<ul class="problems">${r.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`;
      return `<section class="drill" id="${escapeHtml(r.scenario)}">
<h2><span class="verdict ${verdict.toLowerCase()}">${verdict}</span> §${r.section} ${escapeHtml(r.title)} <small>(${escapeHtml(r.scenario)}, ${r.wallSeconds.toFixed(0)} s)</small></h2>
${problems}
<table class="scorecard">${scorecardRows(r)}</table>
<div class="charts"><div class="chart" data-drill="${i}" data-chart="events"></div><div class="chart" data-drill="${i}" data-chart="lag"></div><div class="chart" data-drill="${i}" data-chart="errors"></div></div>
</section>`;
    })
    .join('\n');
  const passed = results.filter((r) => r.passed).length;
  const data = results.map((r) => ({ timeline: r.timeline, faults: r.faults }));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drill report</title>
<style>${style}
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}small{color:#666;font-weight:normal}
.verdict{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:13px}
.pass{background:#2e7d32}.fail{background:#c62828}
.scorecard th{text-align:left;padding:2px 12px 2px 0;font-weight:600}.scorecard td{padding:2px 0}
.problems{color:#c62828}.charts{display:flex;flex-wrap:wrap;gap:12px}
</style></head>
<body>
<h1>Drill report</h1>
<p>${passed} of ${results.length} drills passed; generated ${escapeHtml(generatedAt.toISOString())}. The shaded band is the fault window.</p>
${sections}
<script>${script}</script>
<script>
const DRILLS = ${scriptJson(data)};
const shade = (faults) => (u) => {
  const ctx = u.ctx;
  ctx.save();
  ctx.fillStyle = 'rgba(198,40,40,0.12)';
  for (const f of faults) {
    const x0 = u.valToPos(f.from, 'x', true);
    const x1 = u.valToPos(f.to, 'x', true);
    ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
  }
  ctx.restore();
};
const CHARTS = {
  events: { title: 'Events per second', series: [['inPerSecond', 'in', '#1565c0'], ['appliedPerSecond', 'applied', '#2e7d32']] },
  lag: { title: 'Lag (records waiting)', series: [['lag', 'lag', '#6a1b9a']] },
  errors: { title: 'Errors per second, degraded state', series: [['errorsPerSecond', 'errors/s', '#c62828'], ['degraded', 'breaker / fallback / spill', '#ef6c00']] },
};
for (const el of document.querySelectorAll('.chart')) {
  const drill = DRILLS[Number(el.dataset.drill)];
  const chart = CHARTS[el.dataset.chart];
  const t = drill.timeline;
  const opts = {
    title: chart.title,
    width: 420,
    height: 220,
    scales: { x: { time: false } },
    axes: [{ label: 's' }, { size: 64 }],
    series: [{ label: 's' }, ...chart.series.map(([, label, stroke]) => ({ label, stroke, width: 2 }))],
    hooks: { drawClear: [shade(drill.faults)] },
  };
  new uPlot(opts, [t.t, ...chart.series.map(([key]) => t[key])], el);
}
document.body.dataset.rendered = String(document.querySelectorAll('.chart canvas').length);
</script>
</body></html>
`;
}
