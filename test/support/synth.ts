import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type EnvironmentName, loadEnvironmentConfig } from '../../lib/config/index.js';
import { applyNagChecks } from '../../lib/nag.js';
import { PlatformStage } from '../../lib/PlatformStage.js';

export interface SynthesizedEnvironment {
  readonly stage: PlatformStage;
  readonly network: Template;
  readonly streaming: Template;
  readonly data: Template;
  readonly consumer: Template;
  readonly api: Template;
  readonly query: Template;
  readonly ingest: Template;
  readonly operations: Template;
  readonly warehouse: Template;
  readonly workflows: Template;
  readonly remediation: Template;
  readonly dashboard: Template;
  /** Only where game days are enabled. */
  readonly resilience: Template | undefined;
}

const cache = new Map<EnvironmentName, SynthesizedEnvironment>();

/** Synthesizes one environment exactly as `cdk synth -c env=<name>` does (minus cdk-nag), once per test file. */
export function synthesize(name: EnvironmentName): SynthesizedEnvironment {
  const cached = cache.get(name);
  if (cached) return cached;
  const outdir = mkdtempSync(join(tmpdir(), `cdp-synth-${name}-`));
  // Assets are not bundled here (`cdk synth` in CI bundles them): the assertions read the templates only.
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const stage = new PlatformStage(app, name, { config: loadEnvironmentConfig(name) });
  const result: SynthesizedEnvironment = {
    stage,
    network: Template.fromStack(stage.network),
    streaming: Template.fromStack(stage.streaming),
    data: Template.fromStack(stage.data),
    consumer: Template.fromStack(stage.consumer),
    api: Template.fromStack(stage.api),
    query: Template.fromStack(stage.query),
    ingest: Template.fromStack(stage.ingest),
    operations: Template.fromStack(stage.operations),
    warehouse: Template.fromStack(stage.warehouse),
    workflows: Template.fromStack(stage.workflows),
    remediation: Template.fromStack(stage.remediation),
    dashboard: Template.fromStack(stage.dashboard),
    resilience: stage.resilience === undefined ? undefined : Template.fromStack(stage.resilience),
  };
  rmSync(outdir, { recursive: true, force: true });
  cache.set(name, result);
  return result;
}

export interface NagViolation {
  readonly rule: string;
  readonly path: string;
  readonly description: string;
}

interface ValidationReport {
  pluginReports: Array<{
    violations: Array<{
      ruleName: string;
      description: string;
      violatingConstructs: Array<{ constructPath: string }>;
    }>;
  }>;
}

/** Synthesizes one environment with the AWS Solutions pack and returns every unacknowledged finding. */
export function nagViolations(name: EnvironmentName): NagViolation[] {
  const outdir = mkdtempSync(join(tmpdir(), `cdp-nag-${name}-`));
  try {
    // Assets are not bundled here (`cdk synth` in CI bundles them): the assertions read the templates only.
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    new PlatformStage(app, name, { config: loadEnvironmentConfig(name) });
    applyNagChecks(app);
    try {
      app.synth();
    } catch (error: unknown) {
      if (!(error instanceof Error) || !error.message.includes('Validation failed')) throw error;
    }
    const report = JSON.parse(
      readFileSync(join(outdir, 'validation-report.json'), 'utf8'),
    ) as ValidationReport;
    return report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((v) =>
        v.violatingConstructs.map((c) => ({
          rule: v.ruleName,
          path: c.constructPath,
          description: v.description,
        })),
      ),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Every stack template of a synthesized environment, by stack (the stacks an environment has). */
export function stackTemplates(environment: SynthesizedEnvironment): Record<string, Template> {
  const { stage: _stage, ...templates } = environment;
  return Object.fromEntries(
    Object.entries(templates).filter((entry): entry is [string, Template] => entry[1] !== undefined),
  );
}
