import { describe, expect, it } from 'vitest';
import { FallbackCache } from '../../../lambdas/shared/query/index.js';

const cacheAt = (clock: { now: number }, maxEntries = 10) =>
  new FallbackCache<string>({ ttlMillis: 1_000, negativeTtlMillis: 100, maxEntries, now: () => clock.now });

describe('the fallback cache', () => {
  it('serves a value until its TTL and "not found" until the shorter negative TTL', () => {
    const clock = { now: 0 };
    const cache = cacheAt(clock);
    cache.set('email:a@example.com', 'cust-1');
    cache.set('email:nobody@example.com', null);

    clock.now = 99;
    const early = [cache.get('email:a@example.com'), cache.get('email:nobody@example.com')];
    clock.now = 100;
    const negativeExpired = cache.get('email:nobody@example.com');
    clock.now = 1_000;
    const positiveExpired = cache.get('email:a@example.com');

    expect(early).toEqual([
      { status: 'hit', value: 'cust-1' },
      { status: 'hit', value: null },
    ]);
    expect([negativeExpired, positiveExpired]).toEqual([{ status: 'expired' }, { status: 'expired' }]);
    expect(cache.stats()).toEqual({ hits: 2, misses: 0, expired: 2, evicted: 0, size: 0 });
  });

  it('counts a key never stored as a miss', () => {
    const cache = cacheAt({ now: 0 });

    expect(cache.get('phone:+447700900123')).toEqual({ status: 'miss' });
    expect(cache.stats().misses).toBe(1);
  });

  it('drops the least recently used entry beyond its size', () => {
    const cache = cacheAt({ now: 0 }, 2);
    cache.set('a', '1');
    cache.set('b', '2');
    cache.get('a');

    cache.set('c', '3');

    expect(cache.get('b')).toEqual({ status: 'miss' });
    expect(cache.get('a')).toEqual({ status: 'hit', value: '1' });
    expect(cache.get('c')).toEqual({ status: 'hit', value: '3' });
    expect(cache.stats()).toMatchObject({ evicted: 1, size: 2 });
  });

  it('forgets a deleted entry', () => {
    const cache = cacheAt({ now: 0 });
    cache.set('a', '1');

    cache.delete('a');

    expect(cache.get('a')).toEqual({ status: 'miss' });
  });
});
