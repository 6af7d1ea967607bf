import { LimitedLevel, LogLimiter, printable } from '../../lib/common/log-limiter';
import { ManualTime } from '../helpers/manual-time';

function setup(burst = 2) {
  const time = new ManualTime();
  const lines: Array<[LimitedLevel, string]> = [];
  const limiter = new LogLimiter((level, message) => lines.push([level, message]), {
    windowMs: 10_000,
    burst,
    clock: time,
    scheduler: time,
  });
  return { time, lines, limiter };
}

describe('LogLimiter', () => {
  it('writes the first lines of a condition, counts the rest and summarises them when the window ends', () => {
    const { time, lines, limiter } = setup(2);
    for (let i = 0; i < 1_000; i++) limiter.log('warn', 'refused', `refused peer ${i}`);
    expect(lines).toEqual([
      ['warn', 'refused peer 0'],
      ['warn', 'refused peer 1'],
    ]);
    time.advance(10_000);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toEqual(['warn', 'refused: 998 more in the last 10 s; the last: refused peer 999']);
    limiter.log('warn', 'refused', 'refused peer 1000');
    expect(lines[3]).toEqual(['warn', 'refused peer 1000']);
  });

  it('keeps conditions apart', () => {
    const { lines, limiter } = setup(1);
    limiter.log('warn', 'a', 'a1');
    limiter.log('error', 'b', 'b1');
    limiter.log('warn', 'a', 'a2');
    expect(lines.map(l => l[1])).toEqual(['a1', 'b1']);
  });

  it('writes nothing more for a condition that stayed within its burst', () => {
    const { time, lines, limiter } = setup(3);
    limiter.log('debug', 'late', 'x');
    time.advance(60_000);
    expect(lines).toEqual([['debug', 'x']]);
    expect(time.pending).toBe(0);
  });

  it('flush() writes pending summaries at once and cancels their timers', () => {
    const { time, lines, limiter } = setup(1);
    limiter.log('warn', 'k', 'one');
    limiter.log('warn', 'k', 'two');
    limiter.flush();
    expect(lines[1][1]).toBe('k: 1 more in the last 10 s; the last: two');
    expect(time.pending).toBe(0);
  });

  it('bounds the conditions it tracks, summarising the oldest it forgets', () => {
    const time = new ManualTime();
    const lines: string[] = [];
    const limiter = new LogLimiter((_, m) => lines.push(m), {
      burst: 1,
      maxConditions: 2,
      clock: time,
      scheduler: time,
    });
    limiter.log('warn', 'a', 'a1');
    limiter.log('warn', 'a', 'a2');
    limiter.log('warn', 'b', 'b1');
    limiter.log('warn', 'c', 'c1');
    expect(lines).toEqual(['a1', 'b1', 'a: 1 more in the last 10 s; the last: a2', 'c1']);
  });
});

describe('printable', () => {
  it('escapes control characters and escape sequences a peer chose', () => {
    expect(printable('id\u001b]0;pwned\u0007\r\n')).toBe('id\\x1b]0;pwned\\x07\\x0d\\x0a');
    expect(printable('a\u202eb\u0085')).toBe('a\\u202eb\\x85');
    expect(printable('plain-id_1')).toBe('plain-id_1');
  });

  it('cuts long strings', () => {
    expect(printable('x'.repeat(300), 10)).toBe(`${'x'.repeat(10)}…`);
  });
});
