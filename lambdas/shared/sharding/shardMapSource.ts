import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { parseShardMap, type ShardMap } from './shardMap.js';

/**
 * Where the current shard map comes from. A {@link ShardDirectory} loads it once at start and again on
 * every poll, so a source must be cheap to read and must never return half of an update.
 *
 * Sources: a JSON file ({@link fileShardMapSource}: local runs, and any host where whoever repoints a
 * shard can write a file) and a fixed map ({@link staticShardMapSource}: a map from the environment, tests).
 * An SSM-parameter source (the Data stack publishing the map, operators repointing a URL-addressed shard
 * with `put-parameter`) is future work; Aurora shards never need it, since their failover happens behind
 * the cluster endpoint the Data API keeps targeting.
 */
export interface ShardMapSource {
  /** A description for logs (a file path, "static"). */
  readonly description: string;
  /**
   * Reads and checks the map.
   * @throws {InvalidShardMapError} when the content is not a valid shard map.
   * @throws {Error} when the source cannot be read (file missing, permission denied, ...).
   */
  load(): Promise<ShardMap>;
}

/**
 * A shard map kept in a JSON file, re-read on every `load()`. Writers must replace the file atomically
 * (write a temporary file, then rename it over the map: {@link writeShardMapFile}) so a reader never sees
 * a torn map; a torn or invalid map is refused anyway, and the previous one stays in use.
 */
export function fileShardMapSource(path: string): ShardMapSource {
  return {
    description: path,
    async load() {
      return parseShardMap(await readFile(path, 'utf8'));
    },
  };
}

/** A map that never changes. */
export function staticShardMapSource(map: ShardMap): ShardMapSource {
  return {
    description: 'static',
    load: () => Promise.resolve(map),
  };
}

/**
 * Writes `map` to `path` atomically: the JSON goes to a temporary file next to it, which is then renamed
 * over `path` (a rename within one directory replaces the file in one step).
 * @throws {Error} when the directory is not writable.
 */
export async function writeShardMapFile(path: string, map: ShardMap): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(map, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error: unknown) {
    await rm(temporary, { force: true });
    throw error;
  }
}
