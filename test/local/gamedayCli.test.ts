import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GAME_DAY_SCENARIOS } from '../../lib/gameDays.js';

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `npm run gameday` with dummy credentials and FIS pointed at `endpoint` on loopback (or nowhere). */
function runCli(
  args: readonly string[],
  endpoint = 'http://127.0.0.1:9',
  script = 'local/gameday.ts',
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
        AWS_SECRET_ACCESS_KEY: 'local-test-secret',
        AWS_ENDPOINT_URL: endpoint,
        AWS_ENDPOINT_URL_FIS: endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A stand-in for the FIS REST API on loopback: one template, and an experiment that ends in `finalState`. */
function fakeFis(templates: ReadonlyArray<Record<string, unknown>>, finalState: string) {
  const requests: string[] = [];
  let looks = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      requests.push(`${req.method} ${req.url?.split('?')[0]} ${body}`);
      const reply = (payload: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const experiment = (status: string) => ({
        id: 'EXPLOCAL',
        experimentTemplateId: 'EXTLOCAL',
        state: { status, reason: status === 'running' ? undefined : `Experiment ${status}.` },
        actions: { fault: { state: { status: status === 'initiating' ? 'pending' : status } } },
      });
      if (req.method === 'GET' && req.url?.startsWith('/experimentTemplates')) {
        reply({ experimentTemplates: templates });
      } else if (req.method === 'POST' && req.url === '/experiments') {
        reply({ experiment: experiment('initiating') });
      } else if (req.method === 'GET' && req.url === '/experiments/EXPLOCAL') {
        looks += 1;
        reply({ experiment: experiment(looks < 2 ? 'running' : finalState) });
      } else {
        res.writeHead(404).end();
      }
    });
  });
  return { server, requests };
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const listen = async (fake: ReturnType<typeof fakeFis>): Promise<string> => {
  server = fake.server;
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
};

const uatTemplate = { id: 'EXTLOCAL', tags: { 'cdp:environment': 'uat', 'cdp:scenario': 'query-errors' } };

describe('npm run gameday', () => {
  it('--help lists every scenario and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);

    expect(code).toBe(0);
    for (const { id } of GAME_DAY_SCENARIOS) expect(stdout).toContain(id);
  });

  it.each([
    [['--env', 'uat', 'delete-everything'], 'Unknown game-day scenario "delete-everything"'],
    [['shard-failover'], 'give --env dev, uat or prod'],
    [['--env', 'staging', 'shard-failover'], 'give --env dev, uat or prod'],
    [['--env', 'uat'], 'give exactly one scenario'],
    [['--env', 'uat', '--poll-seconds', '0', 'shard-failover'], '--poll-seconds must be a positive number'],
  ])('refuses %j with exit code 2', async (args, message) => {
    const { code, stderr } = await runCli(args);

    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('follows a completed experiment through the FIS API and exits 0', async () => {
    // Prepare
    const fake = fakeFis([uatTemplate], 'completed');
    const endpoint = await listen(fake);

    // Act
    const { code, stdout } = await runCli(
      ['--env', 'uat', '--poll-seconds', '0.05', 'query-errors'],
      endpoint,
    );

    // Assess
    expect(code).toBe(0);
    expect(stdout).toMatch(/EXPLOCAL experiment running\n/);
    expect(stdout).toMatch(/EXPLOCAL: completed \(Experiment completed\.\)\n$/);
    const start = fake.requests.find((r) => r.startsWith('POST /experiments'));
    expect(JSON.parse(start?.slice('POST /experiments '.length) ?? '{}')).toMatchObject({
      experimentTemplateId: 'EXTLOCAL',
      tags: { 'cdp:environment': 'uat', 'cdp:scenario': 'query-errors' },
    });
  });

  it('exits 1 when a stop condition stopped the experiment', async () => {
    const endpoint = await listen(fakeFis([uatTemplate], 'stopped'));

    const { code, stdout } = await runCli(
      ['--env', 'uat', '--poll-seconds', '0.05', 'query-errors'],
      endpoint,
    );

    expect(code).toBe(1);
    expect(stdout).toMatch(/EXPLOCAL: stopped \(Experiment stopped\.\)\n$/);
  });

  it('exits 1 naming the tags when the environment has no such template, and starts nothing', async () => {
    const fake = fakeFis(
      [{ ...uatTemplate, tags: { 'cdp:environment': 'dev', 'cdp:scenario': 'query-errors' } }],
      'completed',
    );
    const endpoint = await listen(fake);

    const { code, stderr } = await runCli(['--env', 'uat', 'query-errors'], endpoint);

    expect(code).toBe(1);
    expect(stderr).toContain(
      'No FIS experiment template tagged cdp:environment=uat and cdp:scenario=query-errors',
    );
    expect(fake.requests.filter((r) => r.startsWith('POST'))).toEqual([]);
  });
});

describe('npm run drill -- --aws', () => {
  it('runs the same experiment runner: follows a completed experiment and exits 0', async () => {
    // Prepare
    const fake = fakeFis([uatTemplate], 'completed');
    const endpoint = await listen(fake);

    // Act
    const { code, stdout } = await runCli(
      ['--aws', '--env', 'uat', 'query-errors'],
      endpoint,
      'local/drill.ts',
    );

    // Assess
    expect(code).toBe(0);
    expect(stdout).toMatch(/EXPLOCAL: completed \(Experiment completed\.\)\n$/);
    expect(fake.requests.filter((r) => r.startsWith('POST /experiments'))).toHaveLength(1);
  }, 30_000);

  it('refuses an unknown scenario and a missing environment with exit code 2', async () => {
    const unknown = await runCli(['--aws', '--env', 'uat', 'delete-everything'], undefined, 'local/drill.ts');
    const noEnv = await runCli(['--aws', 'query-errors'], undefined, 'local/drill.ts');

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown game-day scenario "delete-everything"');
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toContain('--aws takes --env dev, uat or prod');
  });
});
