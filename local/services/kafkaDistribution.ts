import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { findOnPath, isExecutable } from './binaries.js';
import { HarnessError } from './errors.js';

const execFileAsync = promisify(execFile);

/** The project root: two levels above this module. */
const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');
/** The Maven project that pins the broker's version and its logging binding. */
export const KAFKA_POM = join(PROJECT_ROOT, 'local', 'kafka', 'pom.xml');
/** Where fetched distributions live unless `CDP_KAFKA_HOME` says otherwise (git-ignored). */
const DEFAULT_KAFKA_HOME = join(PROJECT_ROOT, '.local', 'kafka');
/** Written last by a fetch, listing the jars; its presence means the distribution is complete. */
const MANIFEST = 'manifest.json';
const INSTALL_HINT = 'apt-get install -y openjdk-17-jre-headless maven';

/** Java or Maven is not installed: what `.ci/run` installs from Debian. */
export class MissingToolError extends HarnessError {
  override readonly name = 'MissingToolError';

  constructor(
    readonly tool: 'java' | 'mvn',
    purpose: string,
  ) {
    super(
      `${tool === 'java' ? 'Java 17 or newer' : 'Maven'} is needed ${purpose} and none was found: ${INSTALL_HINT}`,
    );
  }
}

/** A complete local copy of the broker's jars. */
export interface KafkaDistribution {
  readonly version: string;
  /** Directory of the jars: the JVM classpath is `<libs>/*`. */
  readonly libs: string;
  readonly jars: readonly string[];
}

/** What the machine lacks to run a Kafka broker, or nothing. */
export interface KafkaAvailability {
  readonly available: boolean;
  /** Says what is missing and how to get it, when not available. */
  readonly reason?: string;
}

/**
 * The Kafka version pinned in `local/kafka/pom.xml`.
 * @throws {HarnessError} when the POM cannot be read or names no `kafka.version`.
 */
export async function pinnedKafkaVersion(): Promise<string> {
  const pom = await readFile(KAFKA_POM, 'utf8').catch((error: unknown) => {
    throw new HarnessError(`Cannot read ${KAFKA_POM}`, { cause: error });
  });
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1]?.trim();
  if (version === undefined || version === '') {
    throw new HarnessError(`${KAFKA_POM} names no <kafka.version>`);
  }
  return version;
}

function kafkaHome(): string {
  return resolve(process.env.CDP_KAFKA_HOME ?? DEFAULT_KAFKA_HOME);
}

/**
 * The `java` to run brokers with: `$JAVA_HOME/bin/java`, else `java` on PATH.
 * @throws {MissingToolError} naming the package to install when there is none.
 */
export async function javaBinary(): Promise<string> {
  const fromHome = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  if (fromHome !== undefined && (await isExecutable(fromHome))) return fromHome;
  const found = await findOnPath('java');
  if (found !== undefined) return found;
  throw new MissingToolError('java', 'to run a Kafka broker');
}

/**
 * The fetched distribution of the pinned version.
 * @throws {HarnessError} saying to run `npm run kafka:fetch` when it is missing or incomplete.
 */
export async function kafkaDistribution(): Promise<KafkaDistribution> {
  const version = await pinnedKafkaVersion();
  const dir = join(kafkaHome(), version);
  const manifest = await readFile(join(dir, MANIFEST), 'utf8').catch(() => undefined);
  const missing = () =>
    new HarnessError(
      `The Kafka ${version} broker jars are not in ${dir}: run \`npm run kafka:fetch\` (needs Java 17 and Maven)`,
    );
  if (manifest === undefined) throw missing();
  const jars = (JSON.parse(manifest) as { jars: string[] }).jars;
  const present = new Set(await readdir(join(dir, 'libs')).catch(() => []));
  if (jars.length === 0 || jars.some((jar) => !present.has(jar))) throw missing();
  return { version, libs: join(dir, 'libs'), jars };
}

/** Whether brokers can run here: a fetched distribution and a `java`. Never throws. */
export async function kafkaAvailability(): Promise<KafkaAvailability> {
  try {
    await javaBinary();
    await kafkaDistribution();
    return { available: true };
  } catch (error: unknown) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** Options of {@link fetchKafkaDistribution}. */
export interface FetchOptions {
  /** Called with a line of progress. */
  readonly progress?: (line: string) => void;
}

/**
 * Copies the broker's runtime jars from Maven Central (through the local Maven repository, so a second
 * fetch needs no network) into `<CDP_KAFKA_HOME>/<version>/libs`. Does nothing when they are already there.
 * The copy goes to a scratch directory first and is renamed into place, so an interrupted fetch leaves
 * nothing that looks complete.
 * @throws {MissingToolError} when Maven or Java is missing.
 * @throws {HarnessError} when Maven fails.
 */
export async function fetchKafkaDistribution(options: FetchOptions = {}): Promise<KafkaDistribution> {
  const progress = options.progress ?? (() => undefined);
  try {
    const existing = await kafkaDistribution();
    progress(`Kafka ${existing.version}: ${existing.jars.length} jars already in ${existing.libs}`);
    return existing;
  } catch {
    // Not fetched yet (or incomplete): fetch below.
  }
  await javaBinary();
  const mvn = await findOnPath('mvn');
  if (mvn === undefined) {
    throw new MissingToolError('mvn', 'to fetch the Kafka broker jars');
  }
  const version = await pinnedKafkaVersion();
  const dir = join(kafkaHome(), version);
  const scratch = join(dir, `libs.partial-${process.pid}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  progress(`Kafka ${version}: copying the broker jars from Maven into ${dir}`);
  try {
    await execFileAsync(
      mvn,
      [
        '-q',
        '-B',
        '-f',
        KAFKA_POM,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${scratch}`,
      ],
      { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error: unknown) {
    await rm(scratch, { recursive: true, force: true });
    const output =
      typeof error === 'object' && error !== null && 'stdout' in error ? String(error.stdout) : '';
    throw new HarnessError(`Maven could not fetch the Kafka ${version} broker jars`, {
      output,
      cause: error,
    });
  }
  const jars = (await readdir(scratch)).filter((name) => name.endsWith('.jar')).sort();
  if (!jars.some((jar) => jar.startsWith(`kafka_2.13-${version}`))) {
    await rm(scratch, { recursive: true, force: true });
    throw new HarnessError(`Maven copied no kafka_2.13-${version} jar into ${scratch}`);
  }
  await rm(join(dir, 'libs'), { recursive: true, force: true });
  await rename(scratch, join(dir, 'libs'));
  await writeFile(join(dir, MANIFEST), `${JSON.stringify({ version, jars }, null, 2)}\n`);
  progress(`Kafka ${version}: ${jars.length} jars in ${join(dir, 'libs')}`);
  return { version, libs: join(dir, 'libs'), jars };
}
