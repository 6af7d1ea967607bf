import { bucketOf, DeadlineWatch, Watched } from '../../lib/protocol/server/deadlines';
import { ManualTime } from '../helpers/manual-time';

describe('bucketOf', () => {
  it('never rounds down, and rounds up by at most 1/16', () => {
    for (const ms of [1, 2, 15, 16, 17, 100, 999, 1_000, 30_000, 123_457, 2 ** 31 + 5]) {
      const b = bucketOf(ms);
      expect(b).toBeGreaterThanOrEqual(ms);
      expect(b).toBeLessThanOrEqual(ms * (1 + 1 / 16));
    }
  });

  it('puts the common waits in few buckets', () => {
    expect(new Set([29_800, 30_000, 30_500].map(bucketOf)).size).toBe(1);
  });
});

describe('DeadlineWatch', () => {
  const call = (): Watched & { name?: string } => ({ watchBucket: 0, watchKey: 0 });

  it('expires a call after its wait, restarts on touch, forgets it on unwatch', () => {
    const time = new ManualTime();
    const expired: unknown[] = [];
    const watch = new DeadlineWatch<Watched>(c => expired.push(c), time, time);
    const a = call();
    const b = call();
    const c = call();
    watch.watch(a, 100);
    watch.watch(b, 100);
    watch.watch(c, 5_000);
    time.advance(90);
    watch.touch(b);
    watch.unwatch(c);
    time.advance(20);
    expect(expired).toEqual([a]);
    time.advance(100);
    expect(expired).toEqual([a, b]);
    time.advance(10_000);
    expect(expired).toEqual([a, b]);
    expect([a.watchBucket, b.watchBucket, c.watchBucket]).toEqual([0, 0, 0]);
    expect(time.pending).toBe(0);
  });
});
