/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
/** Where this test leaves what it produced (git-ignored). */
const OUTPUT = join(ROOT, '.local', 'test-output', 'drills');
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

if (!existsSync(CHROMIUM)) {
  if (inCi)
    throw new Error(`The drill report test needs Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  console.warn(
    `Skipping the drill report browser check: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`,
  );
}

interface Scorecard {
  readonly scenario: string;
  readonly passed: boolean;
  readonly problems: string[];
  readonly offered: number;
  readonly accepted: number;
  readonly applied: number;
  readonly lost: number;
  readonly duplicateEffects: number;
}

/** Runs `npm run drill -- <args>` as a user would; returns its exit code and its JSON scorecards. */
function drill(
  args: readonly string[],
): Promise<{ code: number | null; output: { passed: boolean; scorecards: Scorecard[] } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/drill.ts', ...args, '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        resolve({ code, output: JSON.parse(stdout) });
      } catch (error: unknown) {
        reject(
          new Error(`no JSON from the drill command (exit ${code}): ${stderr.slice(-2_000)}`, {
            cause: error,
          }),
        );
      }
    });
  });
}

describe('npm run drill', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdp-drill-command-'));
    await mkdir(OUTPUT, { recursive: true });
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 with a passing scorecard and writes a report whose every chart renders in headless Chromium', async () => {
    // Act
    const { code, output } = await drill([
      'etl-failure',
      '--events',
      '400',
      '--seconds',
      '1',
      '--report',
      dir,
    ]);

    // Assess: the scorecard.
    expect(code).toBe(0);
    expect(output.passed).toBe(true);
    expect(output.scorecards).toHaveLength(1);
    expect(output.scorecards[0]).toMatchObject({
      scenario: 'etl-failure',
      passed: true,
      lost: 0,
      duplicateEffects: 0,
    });
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    // Self-contained: no script, stylesheet or image from anywhere.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/[^"'\s]*\.(js|css)/);

    // Assess: the report in a real browser, offline.
    if (!existsSync(CHROMIUM)) return;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const requests: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith('file:')) requests.push(request.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`file://${join(dir, 'report.html')}`);
      await page.waitForFunction(() => document.body.dataset.rendered !== undefined);
      const charts = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLCanvasElement>('.chart canvas')].map((canvas) => {
          const context = canvas.getContext('2d');
          const pixels =
            context?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) painted += 1;
          return { width: canvas.width, height: canvas.height, painted };
        }),
      );
      await page.screenshot({ path: join(OUTPUT, 'report.png'), fullPage: true });

      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      expect(await page.locator('.chart').count()).toBe(3);
      expect(charts).toHaveLength(3);
      for (const chart of charts) {
        expect(chart.width).toBeGreaterThan(0);
        expect(chart.painted).toBeGreaterThan(0);
      }
      expect(existsSync(join(OUTPUT, 'report.png'))).toBe(true);
    } finally {
      await browser.close();
    }
  });

  it('exits non-zero and names the loss when a drill drops an accepted event (test-only --inject-loss)', async () => {
    // Act
    const { code, output } = await drill(['consumer-crash', '--events', '1000', '--inject-loss']);

    // Assess
    expect(code).toBe(1);
    expect(output.passed).toBe(false);
    const [card] = output.scorecards;
    expect(card).toMatchObject({
      scenario: 'consumer-crash',
      passed: false,
      accepted: 1_000,
      applied: 999,
      lost: 1,
    });
    expect(card?.problems.some((p) => /^lost 1 accepted event\(s\): [0-9a-f-]{36}$/.test(p))).toBe(true);
  });
});
