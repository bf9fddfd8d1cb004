import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CfnAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMESPACE, SERVICES } from '../../lambdas/shared/contracts/index.js';
import { ENVIRONMENT_NAMES, type EnvironmentName, loadEnvironmentConfig } from '../../lib/config/index.js';
import {
  ALARM_OVERVIEW_TITLE,
  DASHBOARD_SECTIONS,
  sectionHeader,
} from '../../lib/constructs/PlatformDashboard.js';
import { alarmsBelow } from '../../lib/stacks/DashboardStack.js';
import { synthesize } from '../support/synth.js';
import { only, parseJoinedJson } from '../support/templateQueries.js';

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly markdown?: string;
    readonly title?: string;
    readonly alarms?: unknown[];
    readonly metrics?: unknown[][];
  };
}

/** The graphs and alarm panels under each large header (`# ...`) of the body, in order. */
interface Section {
  readonly header: string;
  readonly graphs: number;
  readonly alarmPanels: number;
  readonly widgets: Widget[];
}

const sectionsOf = (widgets: readonly Widget[]): Section[] => {
  const sections: Array<{ header: string; widgets: Widget[] }> = [];
  for (const widget of widgets) {
    const markdown = widget.type === 'text' ? (widget.properties.markdown ?? '') : '';
    if (markdown.startsWith('# ')) sections.push({ header: markdown.slice(2), widgets: [] });
    else sections.at(-1)?.widgets.push(widget);
  }
  return sections.map((s) => ({
    header: s.header,
    graphs: s.widgets.filter((w) => w.type === 'metric').length,
    alarmPanels: s.widgets.filter((w) => w.type === 'alarm').length,
    widgets: s.widgets,
  }));
};

/** The graphs and alarm panels each section holds, per environment (printed by the test below). */
const sectionCounts = (redisNodes: number): Record<string, [graphs: number, alarmPanels: number]> => ({
  [ALARM_OVERVIEW_TITLE]: [0, 1],
  [sectionHeader(1)]: [11, 1],
  [sectionHeader(2)]: [18, 1],
  // The alarms named after §3 (shard write failures, replica lag per shard) in one panel above the graphs.
  [sectionHeader(3)]: [5, 1],
  // Five graphs per Redis node (CPU, engine CPU, memory, items, connections) besides the six of its own.
  [sectionHeader(4)]: [6 + 5 * redisNodes, 1],
  [sectionHeader(5)]: [7, 1],
  [sectionHeader(6)]: [3, 1],
  [sectionHeader(7)]: [7, 1],
  [sectionHeader(8)]: [7, 1],
  [sectionHeader(9)]: [5, 1],
});
const EXPECTED: Record<EnvironmentName, Record<string, [graphs: number, alarmPanels: number]>> = {
  dev: sectionCounts(1 + loadEnvironmentConfig('dev').data.cache.replicasPerNodeGroup),
  uat: sectionCounts(1 + loadEnvironmentConfig('uat').data.cache.replicasPerNodeGroup),
  prod: sectionCounts(1 + loadEnvironmentConfig('prod').data.cache.replicasPerNodeGroup),
};

const PLATFORM_NAMESPACE = METRIC_NAMESPACE;
const operationsDoc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
const lambdasDir = join(import.meta.dirname, '..', '..', 'lambdas');
const sourcesBelow = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourcesBelow(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [readFileSync(join(dir, entry.name), 'utf8')]
        : [],
  );
const handlerCode = sourcesBelow(lambdasDir).join('\n');
/** The `service` of every handler's Powertools Metrics: the dimension every platform metric carries. */
const handlerServices = new Set(
  [...handlerCode.matchAll(/new Metrics\(\{[^}]*serviceName: (?:'([a-z-]+)'|SERVICES\.(\w+))/g)].map(
    (m) => m[1] ?? SERVICES[m[2] as keyof typeof SERVICES],
  ),
);

describe.each(ENVIRONMENT_NAMES)('Operations dashboard (%s)', (name) => {
  const environment = synthesize(name);
  const [, dashboard] = only(environment.dashboard, 'AWS::CloudWatch::Dashboard');
  const body = parseJoinedJson(dashboard.Properties.DashboardBody) as { widgets: Widget[] };
  const sections = sectionsOf(body.widgets);
  const platformRows = body.widgets
    .flatMap((w) => w.properties.metrics ?? [])
    .filter((row) => row[0] === PLATFORM_NAMESPACE);

  it(`is the one dashboard of the environment, cdp-${name}, in cdp-${name}-dashboard`, () => {
    expect(environment.stage.dashboard.stackName).toBe(`cdp-${name}-dashboard`);
    expect(dashboard.Properties.DashboardName).toBe(`cdp-${name}`);
    const elsewhere = Object.entries(environment)
      .filter(([key, template]) => key !== 'stage' && key !== 'dashboard' && template !== undefined)
      .flatMap(([, template]) =>
        Object.keys((template as typeof environment.dashboard).findResources('AWS::CloudWatch::Dashboard')),
      );
    expect(elsewhere).toEqual([]);
  });

  it('opens with the alarm overview, then one section per failure scenario in order', () => {
    expect(sections.map((s) => s.header)).toEqual([
      ALARM_OVERVIEW_TITLE,
      ...DASHBOARD_SECTIONS.map((s) => sectionHeader(s.scenario)),
    ]);
  });

  it('shows the state of every alarm of the environment in the overview', () => {
    // Prepare: every alarm of every template of the stage
    const alarmCount = Object.entries(environment)
      .filter(([key, template]) => key !== 'stage' && template !== undefined)
      .reduce(
        (n, [, template]) =>
          n +
          Object.keys((template as typeof environment.dashboard).findResources('AWS::CloudWatch::Alarm'))
            .length,
        0,
      );
    const [overview] = sections;

    // Assess
    expect(overview?.alarmPanels).toBe(1);
    expect(overview?.widgets.find((w) => w.type === 'alarm')?.properties.alarms).toHaveLength(alarmCount);
  });

  it("shows every alarm named after a scenario in that scenario's alarm panel", () => {
    // Prepare: the alarms of the stage named `cdp-<env>-s<N>-...`, counted per scenario
    const named = (n: number) =>
      alarmsBelow(environment.stage).filter((alarm) => {
        const alarmName = (alarm.node.defaultChild as CfnAlarm).alarmName;
        return typeof alarmName === 'string' && alarmName.startsWith(`cdp-${name}-s${n}-`);
      }).length;
    const panelSize = (n: number) =>
      sections
        .find((s) => s.header === sectionHeader(n as Parameters<typeof sectionHeader>[0]))
        ?.widgets.find((w) => w.type === 'alarm')?.properties.alarms?.length ?? 0;

    // Assess: §3 shows its named alarms only (two or four replica lag alarms and the write failures)
    expect(named(3)).toBe(1 + loadEnvironmentConfig(name).data.shardCount);
    expect(panelSize(3)).toBe(named(3));
    for (const n of [1, 2, 4, 5, 6, 7, 8, 9]) {
      expect({ n, atLeast: panelSize(n) >= named(n) }).toEqual({ n, atLeast: true });
    }
  });

  it('gives every scenario graphs to see it happen and recover; counts per section', () => {
    const counts = Object.fromEntries(sections.map((s) => [s.header, [s.graphs, s.alarmPanels]]));
    console.info(
      `dashboard cdp-${name}: ${body.widgets.length} widgets; graphs and alarm panels per section:`,
      JSON.stringify(counts),
    );
    for (const section of sections.slice(1)) expect(section.graphs).toBeGreaterThanOrEqual(3);
    expect(counts).toEqual(EXPECTED[name]);
  });

  it('graphs only metrics a handler publishes: a name in the code, the service of a handler', () => {
    // Prepare: ["CustomerDataPlatform", name, "service", <service>, other dimensions..., options?]
    const seen = platformRows.map((row) => {
      const dimensions = row.slice(2).filter((part) => typeof part === 'string');
      const pairs = Object.fromEntries(
        Array.from({ length: dimensions.length / 2 }, (_, i) => [dimensions[2 * i], dimensions[2 * i + 1]]),
      );
      return { metric: String(row[1]), pairs };
    });

    // Assess
    expect(seen.length).toBeGreaterThan(40);
    const unknownNames = seen.filter(({ metric }) => !handlerCode.includes(`'${metric}'`));
    expect(unknownNames).toEqual([]);
    const unknownServices = seen.filter(({ pairs }) => !handlerServices.has(String(pairs.service)));
    expect(unknownServices).toEqual([]);
  });

  it('has a runbook line in docs/operations.md for every alarm', () => {
    // Prepare: construct paths below the stage, as the runbook names them (`Ingest/BrokerAlarms/SpillDepthAlarm`)
    const paths = alarmsBelow(environment.stage).map((alarm) => alarm.node.path.slice(name.length + 1));

    // Assess
    expect(paths.length).toBeGreaterThanOrEqual(25);
    expect(paths.filter((path) => !operationsDoc.includes(`| \`${path}\``))).toEqual([]);
  });
});
