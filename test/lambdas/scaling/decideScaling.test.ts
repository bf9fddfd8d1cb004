import { describe, expect, it } from 'vitest';
import { classifyLag, decideScaling, type ScalingPolicy } from '../../../lambdas/shared/scaling/index.js';

const POLICY: ScalingPolicy = { floor: 2, ceiling: 8, step: 2, cooldownMillis: 60_000 };
const T = 1_800_000_000_000;

describe('decideScaling', () => {
  it('steps out on high lag and in on low lag, one step at a time', () => {
    expect(decideScaling(POLICY, { current: 2, lastChangedAt: undefined }, 'high', T)).toEqual({
      action: 'scale-out',
      target: 4,
      reason: 'high lag',
    });
    expect(decideScaling(POLICY, { current: 6, lastChangedAt: T - 61_000 }, 'low', T)).toMatchObject({
      action: 'scale-in',
      target: 4,
    });
    expect(decideScaling(POLICY, { current: 6, lastChangedAt: T - 61_000 }, 'normal', T).action).toBe('hold');
  });

  it('never goes above the ceiling or below the floor', () => {
    expect(decideScaling(POLICY, { current: 7, lastChangedAt: undefined }, 'high', T).target).toBe(8);
    expect(decideScaling(POLICY, { current: 8, lastChangedAt: undefined }, 'high', T)).toMatchObject({
      action: 'hold',
      target: 8,
    });
    expect(decideScaling(POLICY, { current: 3, lastChangedAt: undefined }, 'low', T).target).toBe(2);
    expect(decideScaling(POLICY, { current: 2, lastChangedAt: undefined }, 'low', T).action).toBe('hold');
  });

  it('brings a value changed by hand back inside the bounds, whatever the lag', () => {
    expect(decideScaling(POLICY, { current: 20, lastChangedAt: T }, 'high', T)).toMatchObject({
      action: 'scale-in',
      target: 8,
    });
    expect(decideScaling(POLICY, { current: 1, lastChangedAt: T }, 'normal', T)).toMatchObject({
      action: 'scale-out',
      target: 2,
    });
  });

  it('holds within the cooldown, so repeated alarms change nothing more than one', () => {
    // Prepare: the first alarm scaled out just now.
    const state = { current: 4, lastChangedAt: T };
    // Act: the same alarm delivered again and again during the cooldown.
    const repeated = [1_000, 10_000, 59_999].map((after) => decideScaling(POLICY, state, 'high', T + after));
    // Assess
    expect(repeated.every((d) => d.action === 'hold' && d.target === 4)).toBe(true);
    expect(decideScaling(POLICY, state, 'high', T + 60_000).target).toBe(6);
  });

  it('does not flap on a lag that wavers around a threshold', () => {
    // Prepare: a lag reading every 10 s, wavering around the high threshold with noise.
    const thresholds = { high: 10_000, low: 1_000 };
    let state = { current: 2, lastChangedAt: undefined as number | undefined };
    const changes: number[] = [];
    // Act: ten minutes of readings between 9,000 and 11,000.
    for (let i = 0; i < 60; i += 1) {
      const now = T + i * 10_000;
      const lag = 10_000 + (i % 2 === 0 ? 1_000 : -1_000);
      const decision = decideScaling(POLICY, state, classifyLag(lag, thresholds), now);
      if (decision.action !== 'hold') {
        changes.push(decision.target);
        state = { current: decision.target, lastChangedAt: now };
      }
    }
    // Assess: only upward steps (never back in while the lag is above the low threshold), at most one a minute.
    expect(changes).toEqual([4, 6, 8]);
  });

  it('classifies lag with a band between the thresholds, and refuses thresholds without one', () => {
    expect(classifyLag(10_000, { high: 10_000, low: 1_000 })).toBe('high');
    expect(classifyLag(5_000, { high: 10_000, low: 1_000 })).toBe('normal');
    expect(classifyLag(1_000, { high: 10_000, low: 1_000 })).toBe('low');
    expect(() => classifyLag(5, { high: 10, low: 10 })).toThrow(RangeError);
  });

  it('refuses a policy whose bounds make no sense', () => {
    const state = { current: 2, lastChangedAt: undefined };
    expect(() => decideScaling({ ...POLICY, ceiling: 1 }, state, 'high', T)).toThrow(RangeError);
    expect(() => decideScaling({ ...POLICY, step: 0 }, state, 'high', T)).toThrow(RangeError);
    expect(() => decideScaling({ ...POLICY, floor: 0 }, state, 'high', T)).toThrow(RangeError);
  });
});
