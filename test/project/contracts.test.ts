import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as contracts from '../../lambdas/shared/contracts/index.js';

const ROOT = join(import.meta.dirname, '../..');

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Code of `lib/` and `lambdas/` outside the contracts module, comments removed. */
const sources = [...sourcesUnder(join(ROOT, 'lib')), ...sourcesUnder(join(ROOT, 'lambdas'))]
  .map((path) => relative(ROOT, path))
  .filter((file) => !file.startsWith('lambdas/shared/contracts/'))
  .map((file) => ({
    file,
    code: readFileSync(join(ROOT, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, ''),
  }));

const metricNames = [
  contracts.INGEST_METRIC_NAMES,
  contracts.CONSUMER_METRIC_NAMES,
  contracts.QUERY_METRIC_NAMES,
  contracts.BROKER_HEALTH_METRIC_NAMES,
  contracts.CACHE_HEALTH_METRIC_NAMES,
  contracts.ETL_METRIC_NAMES,
  contracts.REPLAY_METRIC_NAMES,
  contracts.SCALING_METRIC_NAMES,
  contracts.RECONCILIATION_METRIC_NAMES,
].flatMap((names) => Object.values(names));

/** Where `literal` is written as a quoted string outside the contracts module. */
const quoted = (literal: string): string[] =>
  sources
    .filter(({ code }) => ["'", '"', '`'].some((q) => code.includes(`${q}${literal}${q}`)))
    .map(({ file }) => file);

describe('contracts module', () => {
  it('imports nothing, so the CDK app and the functions can both depend on it', () => {
    const files = sourcesUnder(join(ROOT, 'lambdas/shared/contracts'));
    const imports = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1] ?? ''),
    );
    expect(imports.filter((spec) => !spec.startsWith('./'))).toEqual([]);
  });

  it.each([
    ['the metric namespace', [contracts.METRIC_NAMESPACE]],
    ['metric names', metricNames],
    ['topic names', Object.values(contracts.TOPICS)],
    ['route paths', Object.values(contracts.ROUTES).map((route) => contracts.versionedPath(route))],
    ['environment variable names', Object.values(contracts.ENV)],
  ] as const)('keeps %s in the contracts module only', (_, literals) => {
    const twice = literals.flatMap((literal) => quoted(literal).map((file) => `${literal} in ${file}`));
    expect(twice).toEqual([]);
  });
});
