/**
 * The benchmark's schedule (bench/schedule.ts): every workload cut into
 * blocks that add up to its total, each block run by every contender once,
 * in an order that rotates from block to block and from round to round.
 */
import { FULL_PLAN, QUICK_PLAN } from '../../bench/common';
import { interleave, split, stepsOf, turnOrder } from '../../bench/schedule';

describe('bench schedule', () => {
  it('cuts a total into blocks that add up to it, none empty', () => {
    expect(split(5_000, 5)).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(split(7, 3)).toEqual([3, 2, 2]);
    expect(split(2, 5)).toEqual([1, 1]);
    expect(split(0, 5)).toEqual([]);
  });

  it('gives every workload of the plan its total in blocks, and skips a workload set to zero', () => {
    const steps = stepsOf(FULL_PLAN);
    const total = (kind: string) => steps.filter(s => s.kind === kind).reduce((n, s) => n + s.count, 0);
    expect(total('seq')).toBe(FULL_PLAN.sequential);
    expect(total('seqLarge')).toBe(FULL_PLAN.sequentialLarge);
    expect(total('seqHuge')).toBe(FULL_PLAN.sequentialHuge);
    expect(total('rps')).toBe(FULL_PLAN.throughput);
    expect(total('rpsLarge')).toBe(FULL_PLAN.throughputLarge);
    expect(total('rpsObj')).toBe(FULL_PLAN.throughputObject);
    expect(steps.filter(s => s.kind === 'seq').map(s => s.block)).toEqual([0, 1, 2, 3, 4]);
    expect(stepsOf({ ...QUICK_PLAN, sequentialHuge: 0 }).some(s => s.kind === 'seqHuge')).toBe(false);
  });

  it('rotates the contenders from step to step, each running every step once', () => {
    expect(turnOrder(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(turnOrder(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(turnOrder(['a', 'b', 'c'], 2, 2)).toEqual(['b', 'c', 'a']);
    const schedule = interleave(['nest-tcp', 'nest-zmq', 'raw-zmq'], QUICK_PLAN, 0);
    for (const { order } of schedule) expect([...order].sort()).toEqual(['nest-tcp', 'nest-zmq', 'raw-zmq']);
    const firsts = new Set(schedule.slice(0, 3).map(s => s.order[0]));
    expect(firsts.size).toBe(3);
    expect(interleave(['nest-tcp', 'nest-zmq'], QUICK_PLAN, 1)[0]!.order).toEqual(['nest-zmq', 'nest-tcp']);
  });

  it('warms every contender with at least 10,000 calls before anything is timed in a full run', () => {
    expect(FULL_PLAN.warmupBurst).toBeGreaterThanOrEqual(10_000);
    expect(FULL_PLAN.warmup).toBeGreaterThanOrEqual(10_000);
  });
});
