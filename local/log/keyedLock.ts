/**
 * Process-wide FIFO locks keyed by string (an absolute file path). Module state on purpose: two LocalLog
 * instances opened on the same directory in one process share it, so their appends to a partition are
 * serialized.
 */
const tails = new Map<string, Promise<void>>();

/** Runs `task` once every earlier task holding the same key has settled. */
export async function withKeyedLock<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = tails.get(key) ?? Promise.resolve();
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => held);
  tails.set(key, tail);
  await previous;
  try {
    return await task();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}
