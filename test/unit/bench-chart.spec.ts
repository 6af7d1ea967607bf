/**
 * The benchmark's SVG chart (bench/chart.ts): a well-formed document (every
 * tag closed, in order; attributes quoted; text escaped) that shows each
 * contender in every panel, with its figures, and draws the distribution.
 */
import { ChartInput, escapeXml, formatValue, ninesOf, renderChart } from '../../bench/chart';

const CONTENDERS = ['raw-zmq', 'nest-tcp', 'nest-zmq', 'nest-zmq-msgpack'];
const PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9];

function input(over: Partial<ChartInput> = {}): ChartInput {
  const figures: Record<string, Record<string, number>> = {};
  const distributions: Record<string, number[]> = {};
  CONTENDERS.forEach((c, i) => {
    figures[c] = { rps: 26_108 + i * 1000, rps64k: 1812 + i, p50: 285 + i * 10, p99: 580 + i * 100 };
    distributions[c] = PERCENTILES.map((_p, k) => 200 + i * 20 + k * k * 30);
  });
  return {
    title: 'nestjs-zeromq benchmark',
    subtitle: '2026-12-01, 2 × cpu & <friends>',
    contenders: CONTENDERS,
    figures,
    throughput: [
      { key: 'rps', label: 'req/s, 64 in flight', unit: 'req/s', higherIsBetter: true },
      { key: 'rps64k', label: 'req/s, 64 KiB', unit: 'req/s', higherIsBetter: true },
    ],
    latency: [
      { key: 'p50', label: 'p50', unit: 'µs', higherIsBetter: false },
      { key: 'p99', label: 'p99', unit: 'µs', higherIsBetter: false },
    ],
    percentiles: PERCENTILES,
    distributions,
    ...over,
  };
}

/** Checks XML well-formedness of what the renderer emits: tags nest and close, attributes are quoted, no raw `<` or `&`. */
function parseCheck(svg: string): { tags: Map<string, number>; texts: string[] } {
  const body = svg.replace(/^<\?xml [^?]*\?>\n/, '');
  const stack: string[] = [];
  const tags = new Map<string, number>();
  const texts: string[] = [];
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = token.exec(body)) !== null) {
    consumed = token.lastIndex;
    const [, close, name, , selfClose, chars] = m;
    if (chars !== undefined) {
      if (/&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/.test(chars)) throw new Error(`unescaped & in ${chars}`);
      if (stack.length === 0 && chars.trim() !== '') throw new Error(`text outside the root: ${chars}`);
      if (chars.trim() !== '') texts.push(chars);
      continue;
    }
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      tags.set(name!, (tags.get(name!) ?? 0) + 1);
      if (!selfClose) stack.push(name!);
      else if (stack.length === 0) throw new Error(`<${name}/> outside the root`);
    }
  }
  if (consumed !== body.length) throw new Error(`unparsable at ${consumed}: ${body.slice(consumed, consumed + 60)}`);
  if (stack.length !== 0) throw new Error(`unclosed ${stack.join(', ')}`);
  return { tags, texts };
}

describe('bench chart', () => {
  it('is a well-formed SVG document with every contender in every panel and the legend', () => {
    const svg = renderChart(input());
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(
      true,
    );
    const { tags, texts } = parseCheck(svg);
    expect(tags.get('svg')).toBe(1);
    // 4 panels × 4 bars (+ the background).
    expect(tags.get('rect')).toBeGreaterThanOrEqual(1 + 16);
    expect(tags.get('polyline')).toBe(4);
    for (const c of CONTENDERS) {
      // A label in each of the 4 bar panels, and one in the legend.
      expect(texts.filter(t => t === c)).toHaveLength(5);
    }
    expect(texts).toContain('26,108');
    expect(texts).toContain('p99.9');
    // The subtitle's & and < are escaped.
    expect(svg).toContain('2 × cpu &#38; &#60;friends&#62;');
  });

  it('the parse check rejects what is not well-formed (so the test above can fail)', () => {
    expect(() => parseCheck('<svg><g></svg>')).toThrow('</svg> closes <g>');
    expect(() => parseCheck('<svg><text>a & b</text></svg>')).toThrow('unescaped &');
    expect(() => parseCheck('<svg><rect x=1/></svg>')).toThrow('unparsable');
    expect(() => parseCheck('<svg>')).toThrow('unclosed svg');
  });

  it('a contender without figures or distribution is drawn without them, not as NaN', () => {
    const partial = input();
    const svg = renderChart({
      ...partial,
      figures: { ...partial.figures, 'nest-tcp': undefined },
      distributions: { ...partial.distributions, 'nest-tcp': [] },
    });
    parseCheck(svg);
    expect(svg).not.toContain('NaN');
    expect(renderChart(input({ distributions: {} }))).toContain('no distribution in these results');
  });

  it('helpers: escaping, number format, the nines scale', () => {
    expect(escapeXml(`a<b>&"'`)).toBe('a&#60;b&#62;&#38;&#34;&#39;');
    expect([formatValue(45790.4), formatValue(366), formatValue(75.12), formatValue(1.234)]).toEqual([
      '45,790',
      '366',
      '75.1',
      '1.23',
    ]);
    expect([ninesOf(0), ninesOf(90), ninesOf(99), ninesOf(99.9)].map(n => Math.round(n * 100) / 100)).toEqual([
      0, 1, 2, 3,
    ]);
  });
});
