import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** A function's entry point: the only module of `lambdas/` that may create Powertools telemetry. */
const isEntryPoint = (file: string): boolean => /^lambdas\/[^/]+\/handler\.ts$/.test(file);

/** The files of `lambdas/` outside the entry points that construct `kind`. */
function constructorsOutsideEntryPoints(kind: 'Metrics' | 'Logger' | 'Tracer'): string[] {
  const pattern = new RegExp(`\\bnew ${kind}\\(`);
  return sourcesUnder(join(ROOT, 'lambdas'))
    .map((path) => relative(ROOT, path))
    .filter((file) => !isEntryPoint(file))
    .filter((file) => pattern.test(readFileSync(join(ROOT, file), 'utf8')));
}

describe('telemetry ownership', () => {
  it.each(['Metrics', 'Logger', 'Tracer'] as const)(
    'creates %s only in function entry points, so whatever is recorded is flushed',
    (kind) => {
      expect(constructorsOutsideEntryPoints(kind)).toEqual([]);
    },
  );

  it("leaves the invocation's context to injectLambdaContext: no entry point adds it to a logger by hand", () => {
    const byHand = sourcesUnder(join(ROOT, 'lambdas'))
      .map((path) => relative(ROOT, path))
      .filter(isEntryPoint)
      .filter((file) => /\.addContext\(/.test(readFileSync(join(ROOT, file), 'utf8')));
    expect(byHand).toEqual([]);
  });

  it('recognizes a construction outside an entry point', () => {
    // The check itself must be able to fail: the pattern finds the construction it looks for.
    expect(/\bnew Metrics\(/.test("const m = new Metrics({ namespace: 'x' });")).toBe(true);
    expect(isEntryPoint('lambdas/shared/ingest/ResilientPublisher.ts')).toBe(false);
    expect(isEntryPoint('lambdas/ingest/handler.ts')).toBe(true);
  });
});
