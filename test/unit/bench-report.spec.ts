/**
 * The benchmark's report logic (bench/report.ts): medians and spreads over
 * rounds, per-round ratios to Nest TCP, the performance targets' verdicts,
 * and the table's cells.
 */
import {
  Figures,
  format,
  median,
  mediansOf,
  meets,
  METRICS,
  ratioStats,
  spread,
  table,
  targetSummary,
  verdict,
} from '../../bench/report';

/** Rounds where nest-zmq's p50 and req/s relate to nest-tcp's as given, one entry per round. */
function rounds(p50Ratios: number[], rpsRatios: number[]): Figures[] {
  return p50Ratios.map((r, i) => ({
    'nest-tcp': { p50: 100, rps: 10_000 },
    'nest-zmq': { p50: 100 * r, rps: 10_000 * rpsRatios[i]! },
  }));
}

const metric = (key: string) => METRICS.find(m => m.key === key)!;

describe('bench report', () => {
  it('takes the median and the spread of the finite values only', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
    expect(spread([3, Number.NaN, 1, 7])).toEqual([1, 7]);
    expect(spread([Number.NaN])).toEqual([Number.NaN, Number.NaN]);
  });

  it('formats figures by size and shows a missing one as a dash', () => {
    expect(format(62_638.4)).toBe('62,638');
    expect(format(541.4)).toBe('541');
    expect(format(11.74)).toBe('11.7');
    expect(format(Number.NaN)).toBe('—');
  });

  it('takes ratios round by round, so a slow round moves both contenders alike', () => {
    const r: Figures[] = [
      { 'nest-tcp': { p50: 100 }, 'nest-zmq': { p50: 90 } },
      { 'nest-tcp': { p50: 300 }, 'nest-zmq': { p50: 270 } },
      { 'nest-tcp': { p50: 100 }, 'nest-zmq': { p50: 95 } },
    ];
    const stats = ratioStats(r, 'p50', 'nest-zmq', 'nest-tcp');
    expect(stats.perRound).toEqual([0.9, 0.9, 0.95]);
    expect(stats.median).toBe(0.9);
    expect([stats.min, stats.max]).toEqual([0.9, 0.95]);
    // The ratio of the medians would mix rounds: 95 ÷ 100.
    expect(mediansOf(['nest-tcp', 'nest-zmq'], r)['nest-zmq']!.p50! / 100).toBe(0.95);
  });

  it('judges a target by the median per-round ratio, in the direction of the figure, and counts the rounds', () => {
    expect(meets(0.9, 1, false)).toBe(true);
    expect(meets(1.1, 1, false)).toBe(false);
    expect(meets(2.1, 2, true)).toBe(true);
    const r = rounds([0.9, 1.2, 0.95], [2.5, 1.5, 1.9]);
    const p50 = verdict(metric('p50'), { ratio: 1, against: 'nest-tcp', neighbour: true }, r, false);
    expect(p50.met).toBe(true);
    expect(p50.text).toBe('≤ 1× nest-tcp: 0.95× (0.90–1.20) met, 2/3 rounds');
    const rps = verdict(metric('rps'), { ratio: 2, against: 'nest-tcp' }, r, false);
    expect(rps.met).toBe(false);
    expect(rps.text).toBe('≥ 2× nest-tcp: 1.90× (1.50–2.50) **not met**, 1/3 rounds');
  });

  it('judges only the latency and CPU targets with a neighbour process', () => {
    const r = rounds([0.9], [1.5]);
    expect(verdict(metric('p50'), metric('p50').targets![0]!, r, true).met).toBe(true);
    const rps = verdict(metric('rps'), metric('rps').targets![0]!, r, true);
    expect(rps.met).toBeUndefined();
    expect(rps.text).toContain('not judged with a neighbour');
    const judged = METRICS.flatMap(m => (m.targets ?? []).filter(t => t.neighbour === true).map(() => m.key));
    expect(judged).toEqual(['p50', 'p99', 'seqClientCpu', 'seqServerCpu', 'p99Large', 'p99Huge']);
  });

  it("holds the issue's targets against Nest TCP, each row that would have caught a miss", () => {
    const goals = Object.fromEntries(
      METRICS.map(m => [m.key, m.targets?.find(t => t.against === 'nest-tcp')?.ratio]).filter(([, g]) => g),
    );
    expect(goals).toEqual({
      p50: 1,
      p99: 1,
      seqClientCpu: 1.2,
      seqServerCpu: 1.2,
      p99Large: 0.7,
      p99Huge: 0.7,
      rps: 2,
      rps64k: 2,
      rpsObj64k: 1,
      stream: 1,
      serverRss: 1.1,
    });
  });

  it('prints each cell as median [min–max] (ratio) and leaves a missing figure as a dash', () => {
    const r = rounds([0.9, 1.2, 0.95], [2.5, 1.5, 1.9]);
    const lines = table(['nest-tcp', 'nest-zmq'], r);
    const p50 = lines.find(l => l.startsWith('| sequential p50 (µs)'))!;
    expect(p50).toBe(
      '| sequential p50 (µs) | 100 [100–100] (1.00×) | 95.0 [90.0–120] (0.95×) | ≤ 1× nest-tcp: 0.95× (0.90–1.20) met, 2/3 rounds |',
    );
    const mean = lines.find(l => l.startsWith('| sequential mean (µs)'))!;
    expect(mean).toBe('| sequential mean (µs) | — | — |  |');
    expect(lines).toHaveLength(2 + METRICS.length);
  });

  it('sums up the targets judged and names the ones not met', () => {
    const r = rounds([0.9, 1.2, 0.95], [2.5, 1.5, 1.9]);
    expect(targetSummary(['nest-tcp', 'nest-zmq'], r)).toBe(
      'targets met: 1 of 2; not met: req/s, 64 in flight vs nest-tcp',
    );
    expect(targetSummary(['nest-tcp', 'nest-zmq'], r, true)).toBe('targets met: 1 of 1');
  });
});
