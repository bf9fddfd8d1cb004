import { readFileSync } from 'node:fs';
import type { Template } from 'aws-cdk-lib/assertions';
import { vi } from 'vitest';

/** One metric value a handler flushed as EMF, with its namespace and exact dimension set. */
export interface EmittedMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: readonly number[];
}

/** A metric that an alarm or a dashboard widget reads. Dimension values are undefined when set at deploy. */
export interface WatchedMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string | undefined>>;
}

/** An `AWS::CloudWatch::Alarm`, reduced to what the contract checks. */
export interface AlarmUnderContract {
  readonly stack: string;
  readonly logicalId: string;
  readonly alarmName: string | undefined;
  /** One metric for a plain alarm; every metric of a metric-math alarm. */
  readonly metrics: readonly WatchedMetric[];
  /** Undefined for a metric-math alarm: its expression, not one statistic, meets the threshold. */
  readonly statistic: string | undefined;
  readonly threshold: number;
  readonly comparison: string;
}

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: readonly (readonly string[])[];
  readonly Metrics: readonly { readonly Name: string }[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses the EMF documents in `output` (one JSON object per line, as Powertools writes them). */
export function parseEmf(output: string): EmittedMetric[] {
  const emitted: EmittedMetric[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"_aws"')) continue;
    const document: unknown = JSON.parse(line);
    if (!isRecord(document) || !isRecord(document._aws)) continue;
    const directives = document._aws.CloudWatchMetrics as readonly EmfDirective[];
    for (const directive of directives) {
      for (const dimensionSet of directive.Dimensions) {
        const dimensions = Object.fromEntries(dimensionSet.map((name) => [name, String(document[name])]));
        for (const { Name } of directive.Metrics) {
          const raw = document[Name];
          const values = (Array.isArray(raw) ? raw : [raw]).map(Number);
          emitted.push({ namespace: directive.Namespace, name: Name, dimensions, values });
        }
      }
    }
  }
  return emitted;
}

/**
 * Runs `act` with everything written to stdout kept (and not shown), and returns the EMF metrics in it:
 * what CloudWatch would receive from the function's log stream.
 */
export async function captureEmf(act: () => Promise<unknown>): Promise<EmittedMetric[]> {
  let output = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    if (process.env.CONTRACT_DEBUG) process.stderr.write(chunk);
    output += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    await act();
  } finally {
    spy.mockRestore();
  }
  return parseEmf(output);
}

/** A literal dimension value of a template, or undefined when CloudFormation resolves it at deploy. */
const literal = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const dimensionsOf = (list: unknown): Record<string, string | undefined> =>
  Object.fromEntries(
    ((list as Array<{ Name: string; Value: unknown }> | undefined) ?? []).map((d) => [
      d.Name,
      literal(d.Value),
    ]),
  );

/** Every alarm of `templates` (stack name → template). */
export function alarmsOf(templates: Readonly<Record<string, Template>>): AlarmUnderContract[] {
  return Object.entries(templates).flatMap(([stack, template]) =>
    Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(([logicalId, resource]) => {
      const p = (resource as { Properties: Record<string, unknown> }).Properties;
      const math = p.Metrics as
        | Array<{ MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: unknown } } }>
        | undefined;
      const metrics: WatchedMetric[] =
        math === undefined
          ? [
              {
                namespace: String(p.Namespace),
                name: String(p.MetricName),
                dimensions: dimensionsOf(p.Dimensions),
              },
            ]
          : math.flatMap((query) =>
              query.MetricStat === undefined
                ? []
                : [
                    {
                      namespace: query.MetricStat.Metric.Namespace,
                      name: query.MetricStat.Metric.MetricName,
                      dimensions: dimensionsOf(query.MetricStat.Metric.Dimensions),
                    },
                  ],
            );
      return {
        stack,
        logicalId,
        alarmName: literal(p.AlarmName),
        metrics,
        statistic: math === undefined ? String(p.Statistic ?? p.ExtendedStatistic) : undefined,
        threshold: Number(p.Threshold),
        comparison: String(p.ComparisonOperator),
      };
    }),
  );
}

/**
 * Every metric of every `AWS::CloudWatch::Dashboard` widget in `templates` (math expressions left out:
 * their inputs are listed as metrics of their own). The body is JSON, joined around deploy-time values.
 */
export function dashboardMetricsOf(templates: Readonly<Record<string, Template>>): {
  widgets: number;
  metrics: WatchedMetric[];
} {
  let widgets = 0;
  const metrics: WatchedMetric[] = [];
  for (const template of Object.values(templates)) {
    for (const resource of Object.values(template.findResources('AWS::CloudWatch::Dashboard'))) {
      const body = (resource as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody;
      const parsed = JSON.parse(bodyText(body)) as {
        widgets?: Array<{ properties?: { metrics?: unknown[][] } }>;
      };
      for (const widget of parsed.widgets ?? []) {
        widgets += 1;
        let previous: unknown[] = [];
        for (const row of widget.properties?.metrics ?? []) {
          const cells = row.map((cell, i) => (cell === '.' ? previous[i] : cell));
          previous = cells;
          if (typeof cells[0] !== 'string') continue;
          const pairs = cells.slice(2).filter((cell) => !isRecord(cell));
          const dimensions: Record<string, string | undefined> = {};
          for (let i = 0; i + 1 < pairs.length; i += 2) {
            const value = pairs[i + 1];
            dimensions[String(pairs[i])] = value === DEPLOY_TIME ? undefined : String(value);
          }
          metrics.push({ namespace: cells[0], name: String(cells[1]), dimensions });
        }
      }
    }
  }
  return { widgets, metrics };
}

/** Stands for a value CloudFormation fills in at deploy inside a dashboard body. */
const DEPLOY_TIME = '<deploy-time>';

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (isRecord(body) && Array.isArray(body['Fn::Join'])) {
    const [separator, parts] = body['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => (typeof part === 'string' ? part : DEPLOY_TIME)).join(separator);
  }
  throw new TypeError(`unreadable dashboard body: ${JSON.stringify(body).slice(0, 200)}`);
}

/**
 * Dimensions whose literal value in a template names a deployed resource (the MSK cluster, the replication
 * group, a shard of the environment's shard map): the scenario runs against its own resources, so only the
 * dimension's presence is compared, not its value.
 */
const DEPLOYMENT_NAMED_DIMENSIONS = new Set(['ClusterName', 'ReplicationGroupId', 'dependency', 'shard']);

/** Whether `emitted` is the metric `watched` reads: same namespace, name and exact dimension set. */
export function sameMetric(watched: WatchedMetric, emitted: EmittedMetric): boolean {
  if (watched.namespace !== emitted.namespace || watched.name !== emitted.name) return false;
  const names = Object.keys(watched.dimensions).sort();
  const emittedNames = Object.keys(emitted.dimensions).sort();
  if (names.join('\u0000') !== emittedNames.join('\u0000')) return false;
  return names.every((name) => {
    const value = watched.dimensions[name];
    return value === undefined || DEPLOYMENT_NAMED_DIMENSIONS.has(name) || value === emitted.dimensions[name];
  });
}

/** The value CloudWatch computes with `statistic` over `values` of one period. */
export function statisticOf(statistic: string, values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  switch (statistic) {
    case 'Sum':
      return values.reduce((sum, v) => sum + v, 0);
    case 'Maximum':
      return sorted[sorted.length - 1] ?? Number.NaN;
    case 'Minimum':
      return sorted[0] ?? Number.NaN;
    case 'Average':
      return values.reduce((sum, v) => sum + v, 0) / values.length;
    case 'SampleCount':
      return values.length;
    default: {
      const percentile = /^p(\d+(?:\.\d+)?)$/.exec(statistic);
      if (percentile === null) throw new RangeError(`unsupported statistic ${statistic}`);
      const rank = Math.ceil((Number(percentile[1]) / 100) * sorted.length) - 1;
      return sorted[Math.max(0, rank)] ?? Number.NaN;
    }
  }
}

/** Whether `value` meets the alarm condition `comparison` against `threshold`. */
export function crosses(comparison: string, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
    default:
      throw new RangeError(`unsupported comparison ${comparison}`);
  }
}

/** One row of the reviewed table of AWS-published metrics. */
export interface AwsMetricRow {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: readonly string[];
  readonly source: string;
}

/**
 * Reads the reviewed table of AWS metrics in `path`: the rows of its Markdown table whose first cell is an
 * `AWS/...` namespace, as `| namespace | metric | dimensions (comma separated) | documentation URL |`.
 * @throws {RangeError} when a row cites no AWS documentation page.
 */
export function loadAwsMetricTable(path: string): AwsMetricRow[] {
  const rows: AwsMetricRow[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim().replaceAll('`', ''));
    const [namespace, name, dimensions, source] = cells;
    if (namespace === undefined || !namespace.startsWith('AWS/') || name === undefined) continue;
    const url = /https:\/\/docs\.aws\.amazon\.com\/\S+/.exec(source ?? '')?.[0];
    if (url === undefined)
      throw new RangeError(`${namespace} ${name}: the row cites no AWS documentation page`);
    rows.push({
      namespace,
      name,
      dimensions: (dimensions ?? '')
        .split(',')
        .map((d) => d.trim())
        .filter((d) => d !== '')
        .sort(),
      source: url.replace(/[)>]+$/, ''),
    });
  }
  return rows;
}

/** The table's row for `watched`: same namespace, name and exact dimension names. */
export function awsRowFor(table: readonly AwsMetricRow[], watched: WatchedMetric): AwsMetricRow | undefined {
  const names = Object.keys(watched.dimensions).sort().join(',');
  return table.find(
    (row) =>
      row.namespace === watched.namespace && row.name === watched.name && row.dimensions.join(',') === names,
  );
}

/** What the contract says about one alarm or widget metric. */
export interface Verdict {
  readonly matched: boolean;
  /** The scenario whose values crossed the threshold, the AWS documentation page, or why nothing matched. */
  readonly evidence: string;
}

/** The platform's own metrics are in this namespace; every other one is AWS's. */
export const isAwsNamespace = (namespace: string): boolean => namespace.startsWith('AWS/');

/**
 * Checks one watched metric: an AWS one against the reviewed table; a platform one against what the
 * scenarios emitted (name and exact dimension set) and, when `alarm` is given and watches this metric alone,
 * whether a scenario's values cross its threshold with its statistic in one period.
 */
export function verdictFor(
  watched: WatchedMetric,
  runs: readonly { readonly scenario: string; readonly emitted: readonly EmittedMetric[] }[],
  table: readonly AwsMetricRow[],
  alarm?: AlarmUnderContract,
): Verdict {
  if (isAwsNamespace(watched.namespace)) {
    const row = awsRowFor(table, watched);
    return row === undefined
      ? { matched: false, evidence: `not in the reviewed table of AWS metrics` }
      : { matched: true, evidence: row.source };
  }
  const emittedIn = runs.filter((run) => run.emitted.some((e) => sameMetric(watched, e)));
  if (emittedIn.length === 0) {
    const sameName = runs.flatMap((run) => run.emitted).filter((e) => e.name === watched.name);
    const seen = [...new Set(sameName.map((e) => JSON.stringify(e.dimensions)))].join(' ');
    return {
      matched: false,
      evidence: `no scenario emitted it${seen === '' ? '' : ` (emitted with dimensions ${seen})`}`,
    };
  }
  if (alarm?.statistic === undefined)
    return { matched: true, evidence: `emitted in ${emittedIn[0]?.scenario}` };
  const { statistic, comparison, threshold } = alarm;
  for (const run of emittedIn) {
    const values = run.emitted.filter((e) => sameMetric(watched, e)).flatMap((e) => e.values);
    const value = statisticOf(statistic, values);
    if (crosses(comparison, value, threshold)) {
      return { matched: true, evidence: `${run.scenario}: ${statistic} ${value} ${comparison} ${threshold}` };
    }
  }
  return {
    matched: false,
    evidence: `emitted, but no scenario's ${statistic} crosses ${comparison} ${threshold}`,
  };
}

/** Checks every metric of `alarm`; all must match. */
export function alarmVerdict(
  alarm: AlarmUnderContract,
  runs: readonly { readonly scenario: string; readonly emitted: readonly EmittedMetric[] }[],
  table: readonly AwsMetricRow[],
): Verdict {
  const verdicts = alarm.metrics.map((metric) => ({ metric, ...verdictFor(metric, runs, table, alarm) }));
  const failed = verdicts.filter((v) => !v.matched);
  const describe = (v: (typeof verdicts)[number]) => `${v.metric.namespace} ${v.metric.name}: ${v.evidence}`;
  return {
    matched: verdicts.length > 0 && failed.length === 0,
    evidence: (failed.length > 0 ? failed : verdicts).map(describe).join('; '),
  };
}
