import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

interface LockedPackage {
  readonly version?: string;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
}

interface Lockfile {
  readonly lockfileVersion: number;
  readonly packages: Readonly<Record<string, LockedPackage>>;
}

const root = join(import.meta.dirname, '..', '..');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as LockedPackage;

/** Where npm would resolve `name` from the package at `path`: its own node_modules, then each ancestor's. */
function resolveFrom(path: string, name: string): string | undefined {
  let base = path;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

describe('package-lock.json', () => {
  it('pins exactly the versions package.json asks for', () => {
    const rootEntry = lock.packages[''];
    expect(rootEntry?.dependencies).toEqual(manifest.dependencies);
    expect(rootEntry?.devDependencies).toEqual(manifest.devDependencies);
  });

  it("lists every platform's optional packages, so `npm ci` accepts it on Linux, macOS and Windows", () => {
    // Prepare
    const missing: string[] = [];
    let checked = 0;
    // Act
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        checked += 1;
        if (resolveFrom(path, name) === undefined)
          missing.push(`${name} (optional for ${path || 'the root'})`);
      }
    }
    // Assess: esbuild, Rollup and Biome alone bring dozens of platform builds.
    expect(checked).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });

  it('names a version for every package it pins', () => {
    const unversioned = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.version === undefined)
      .map(([path]) => path);
    expect(unversioned).toEqual([]);
  });
});
