import { runFisExperiment, UnknownScenarioError } from './fis.js';

/**
 * Runs one game-day experiment from a terminal, as `npm run gameday` and `npm run drill -- --aws` do:
 * progress lines with timestamps on stdout, Ctrl-C stops the experiment (a second Ctrl-C leaves it running),
 * the final state last. Resolves to the exit code: 0 when the experiment completed, 1 otherwise.
 * @throws {UnknownScenarioError} for a scenario no experiment exists for (a usage error).
 */
export async function followOnTerminal(options: {
  readonly env: 'dev' | 'uat' | 'prod';
  readonly scenario: string;
  readonly pollMillis?: number;
}): Promise<number> {
  const abort = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('stopping the experiment (Ctrl-C again to leave it running)\n');
    abort.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  try {
    const result = await runFisExperiment({
      ...options,
      signal: abort.signal,
      onProgress: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
    });
    process.stdout.write(
      `${result.experimentId}: ${result.state}${result.reason === undefined ? '' : ` (${result.reason})`}\n`,
    );
    return result.succeeded ? 0 : 1;
  } catch (error: unknown) {
    if (error instanceof UnknownScenarioError) throw error;
    process.stderr.write(`game day failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
