import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { createClient } from '@redis/client';

/** What one stage of a bench did: its rate, the Node CPU it cost, its Redis commands and its latencies. */
export interface StageFigures {
  readonly name: string;
  /** Events or rows the stage handled. */
  readonly count: number;
  readonly seconds: number;
  /** Node CPU (user + system) of this process during the stage, µs per event or row. */
  readonly cpuMicrosPerUnit: number;
  /** Redis commands executed during the stage (INFO commandstats delta), per event or row. */
  readonly redisCommandsPerUnit: number | undefined;
  /** Latency of each unit of work the stage timed (statement, transaction or invocation), µs. */
  readonly latency: RecordableHistogram;
  readonly rate: number;
}

/** Total calls of every Redis command but INFO itself, from `INFO commandstats`. */
async function redisCalls(url: string | undefined): Promise<number | undefined> {
  if (url === undefined) return undefined;
  const client = createClient({ url });
  await client.connect();
  try {
    const info = await client.info('commandstats');
    let calls = 0;
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (match[1] !== 'info') calls += Number(match[2]);
    }
    return calls;
  } finally {
    client.destroy();
  }
}

/**
 * Runs one stage and measures it. `work` gets a histogram to record each unit's latency in (see
 * {@link timed}) and returns how many events or rows it handled.
 */
export async function measure(
  name: string,
  redisUrl: string | undefined,
  work: (latency: RecordableHistogram) => Promise<number>,
  latency: RecordableHistogram = createHistogram(),
): Promise<StageFigures> {
  const callsBefore = await redisCalls(redisUrl);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const count = await work(latency);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const callsAfter = await redisCalls(redisUrl);
  return {
    name,
    count,
    seconds,
    cpuMicrosPerUnit: (cpu.user + cpu.system) / count,
    redisCommandsPerUnit:
      callsBefore === undefined || callsAfter === undefined ? undefined : (callsAfter - callsBefore) / count,
    latency,
    rate: count / seconds,
  };
}

/** Awaits `work`, recording how long it took (µs) in `latency`. */
export async function timed<T>(latency: RecordableHistogram, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    latency.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
  }
}

const ms = (micros: number) => (micros / 1000).toFixed(1);

/** One line per stage: rate, CPU, Redis commands and latency percentiles. */
export function printStage(stage: StageFigures, unit: string, per: string): void {
  const redis =
    stage.redisCommandsPerUnit === undefined
      ? ''
      : `, Redis ${stage.redisCommandsPerUnit.toFixed(2)} cmd/${unit}`;
  const h = stage.latency;
  const latency =
    h.count === 0
      ? ''
      : `; ${per} p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms (${h.count})`;
  console.log(
    `  ${stage.name}: ${stage.count} ${unit}s in ${stage.seconds.toFixed(2)} s = ${stage.rate.toFixed(0)} ${unit}s/s, ` +
      `CPU ${stage.cpuMicrosPerUnit.toFixed(0)} µs/${unit}${redis}${latency}`,
  );
}

/** Prints `a ÷ b` with its target when there is one. */
export function printRatio(label: string, a: StageFigures, b: StageFigures, target?: number): void {
  const ratio = a.rate / b.rate;
  const verdict =
    target === undefined ? '' : ` (target >= ${target}: ${ratio >= target ? 'met' : 'not met'})`;
  console.log(`  ${label}: ${ratio.toFixed(2)}${verdict}`);
}
