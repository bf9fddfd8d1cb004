/**
 * The `p`th percentile (0 to 100, as `RecordableHistogram.percentile` takes it) of ascending `sorted`
 * values: the value at rank ⌊n·p/100⌋, the last one for 100; NaN when there are none.
 */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
