import { DropCounter, DropCounterKey } from '../../lib/protocol/drop-counter';

const KEYS: DropCounterKey[] = [
  'frameCount',
  'version',
  'type',
  'header',
  'metadata',
  'payload',
  'oversized',
  'notReady',
  'unexpected',
  'unroutable',
  'lateReply',
  'sendFailed',
  'unsentEvent',
];

const total = (c: DropCounter) => Object.values(c.snapshot()).reduce((a, b) => a + b, 0);

describe('DropCounter', () => {
  it('starts with every documented reason at 0', () => {
    const counter = new DropCounter();
    const snapshot = counter.snapshot();
    expect(Object.keys(snapshot).sort()).toEqual([...KEYS].sort());
    expect(Object.values(snapshot).every(v => v === 0)).toBe(true);
    expect(total(counter)).toBe(0);
  });

  it('counts by reason, one or n at a time, and totals them', () => {
    const counter = new DropCounter();
    counter.add('header');
    counter.add('header');
    counter.add('sendFailed', 5);
    counter.add('lateReply');
    expect(counter.snapshot()).toMatchObject({ header: 2, sendFailed: 5, lateReply: 1, version: 0 });
    expect(total(counter)).toBe(8);
  });

  it('hands out snapshots that are copies', () => {
    const counter = new DropCounter();
    const before = counter.snapshot();
    before.header = 99;
    counter.add('type');
    expect(counter.snapshot().header).toBe(0);
    expect(before.type).toBe(0);
    expect(counter.snapshot().type).toBe(1);
  });
});
