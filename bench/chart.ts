/**
 * The benchmark's picture: an SVG written by `npm run bench` beside its
 * report (docs/bench.svg for a full run, shown in the README). Plain string
 * generation, no dependency: a panel of bars per throughput figure, a panel
 * per latency figure, and the latency distribution of the sequential round
 * trips (latency at each percentile, log scales) with a line per contender.
 */

/** One figure drawn as a panel of bars. */
export interface ChartFigure {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
}

export interface ChartInput {
  title: string;
  subtitle: string;
  contenders: readonly string[];
  /** Per contender, the value of each figure's key. */
  figures: Readonly<Record<string, Readonly<Record<string, number>> | undefined>>;
  throughput: readonly ChartFigure[];
  latency: readonly ChartFigure[];
  /** The percentiles of `distributions`, e.g. [0, 50, 90, 99, 99.9]. */
  percentiles: readonly number[];
  /** Per contender, the latency (µs) at each of `percentiles`. */
  distributions: Readonly<Record<string, readonly number[] | undefined>>;
}

const WIDTH = 1000;
const PAD = 24;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
/** Contender colours (colour-blind safe, Okabe–Ito), in table order. */
const COLOURS = ['#7f7f7f', '#e69f00', '#0072b2', '#009e73', '#cc79a7', '#d55e00'];

export function colourOf(contenders: readonly string[], c: string): string {
  return COLOURS[Math.max(0, contenders.indexOf(c)) % COLOURS.length]!;
}

/** Escapes text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, ch => `&#${ch.charCodeAt(0)};`);
}

/** A number as the report prints it: thousands separated, 3 significant digits below 1,000. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function text(x: number, y: number, body: string, attrs = ''): string {
  return `<text x="${r(x)}" y="${r(y)}" ${attrs}>${escapeXml(body)}</text>`;
}

/** Rounds a coordinate to 0.1 px. */
function r(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** One panel: a bar per contender, the best one's value in bold. */
function barPanel(input: ChartInput, figure: ChartFigure, x: number, y: number, w: number): string {
  const values = input.contenders.map(c => input.figures[c]?.[figure.key] ?? Number.NaN);
  const finite = values.filter(Number.isFinite);
  const max = Math.max(1e-9, ...finite);
  const best = figure.higherIsBetter ? Math.max(...finite) : Math.min(...finite);
  const labelW = 118;
  const valueW = 62;
  const barMax = w - labelW - valueW;
  const rowH = 20;
  const parts = [
    text(
      x,
      y + 13,
      `${figure.label}${figure.label.includes(figure.unit) ? '' : ` (${figure.unit})`}, ${figure.higherIsBetter ? 'higher' : 'lower'} is better`,
      'font-size="13" font-weight="600" fill="#222"',
    ),
  ];
  input.contenders.forEach((c, i) => {
    const v = values[i]!;
    const top = y + 24 + i * rowH;
    const len = Number.isFinite(v) ? Math.max(1, (v / max) * barMax) : 0;
    parts.push(
      text(x + labelW - 6, top + 13, c, 'font-size="12" fill="#333" text-anchor="end"'),
      `<rect x="${r(x + labelW)}" y="${r(top + 2)}" width="${r(len)}" height="${rowH - 6}" rx="2" fill="${colourOf(input.contenders, c)}"/>`,
      text(
        x + labelW + len + 5,
        top + 13,
        formatValue(v),
        `font-size="12" fill="#222"${v === best ? ' font-weight="700"' : ''}`,
      ),
    );
  });
  return parts.join('\n');
}

function panelHeight(input: ChartInput): number {
  return 24 + input.contenders.length * 20 + 14;
}

/** A grid of bar panels, `columns` per row; returns the SVG and the height used. */
function barGrid(input: ChartInput, figures: readonly ChartFigure[], y: number, columns: number): [string, number] {
  const gap = 28;
  const w = (WIDTH - 2 * PAD - (columns - 1) * gap) / columns;
  const h = panelHeight(input);
  const parts = figures.map((f, i) =>
    barPanel(input, f, PAD + (i % columns) * (w + gap), y + Math.floor(i / columns) * h, w),
  );
  return [parts.join('\n'), Math.ceil(figures.length / columns) * h];
}

/** x of a percentile on a "nines" scale: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3. */
export function ninesOf(percentile: number): number {
  return Math.log10(1 / Math.max(1e-6, 1 - percentile / 100));
}

/** Tick values 1, 2, 5 × 10^k between `lo` and `hi`. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)) && ticks.length < 40; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

/** An axis label: `200 µs`, `1 ms`, `2.5 ms`. */
function microsLabel(us: number): string {
  return us >= 1000 ? `${Number((us / 1000).toPrecision(3))} ms` : `${Number(us.toPrecision(3))} µs`;
}

interface Plot {
  x0: number;
  y0: number;
  w: number;
  h: number;
  maxNines: number;
  logLo: number;
  logHi: number;
}

function axes(input: ChartInput, p: Plot): string[] {
  const parts: string[] = [];
  const sx = (n: number) => p.x0 + (n / p.maxNines) * p.w;
  const sy = (us: number) => p.y0 + p.h - ((Math.log10(us) - p.logLo) / (p.logHi - p.logLo)) * p.h;
  for (const t of logTicks(10 ** p.logLo, 10 ** p.logHi)) {
    parts.push(
      `<line x1="${r(p.x0)}" y1="${r(sy(t))}" x2="${r(p.x0 + p.w)}" y2="${r(sy(t))}" stroke="#e3e3e3"/>`,
      text(p.x0 - 6, sy(t) + 4, microsLabel(t), 'font-size="11" fill="#555" text-anchor="end"'),
    );
  }
  for (const pc of input.percentiles.filter(x => [0, 50, 90, 99, 99.9, 99.99].includes(x))) {
    parts.push(
      `<line x1="${r(sx(ninesOf(pc)))}" y1="${r(p.y0)}" x2="${r(sx(ninesOf(pc)))}" y2="${r(p.y0 + p.h)}" stroke="#e3e3e3"/>`,
      text(
        sx(ninesOf(pc)),
        p.y0 + p.h + 16,
        pc === 0 ? 'min' : `p${pc}`,
        'font-size="11" fill="#555" text-anchor="middle"',
      ),
    );
  }
  parts.push(
    `<rect x="${r(p.x0)}" y="${r(p.y0)}" width="${r(p.w)}" height="${r(p.h)}" fill="none" stroke="#999"/>`,
    text(
      p.x0 + p.w / 2,
      p.y0 + p.h + 32,
      'percentile of the sequential round trips',
      'font-size="11" fill="#555" text-anchor="middle"',
    ),
  );
  return parts;
}

/** The latency at each percentile, one line per contender, with a legend on the right. */
function distributionPanel(input: ChartInput, y: number): [string, number] {
  const drawn = input.contenders.filter(c => (input.distributions[c]?.length ?? 0) === input.percentiles.length);
  const all = drawn.flatMap(c => input.distributions[c]!).filter(v => v > 0);
  const title = text(
    PAD,
    y + 13,
    'Latency distribution (µs, log scale): latency at each percentile, lower is better',
    'font-size="13" font-weight="600" fill="#222"',
  );
  if (all.length === 0 || input.percentiles.length < 2) {
    return [`${title}\n${text(PAD, y + 40, 'no distribution in these results', 'font-size="12" fill="#555"')}`, 56];
  }
  const p: Plot = {
    x0: PAD + 64,
    y0: y + 28,
    w: WIDTH - 2 * PAD - 64 - 170,
    h: 240,
    maxNines: ninesOf(Math.max(...input.percentiles)),
    logLo: Math.log10(Math.min(...all)) - 0.05,
    logHi: Math.log10(Math.max(...all)) + 0.05,
  };
  const sx = (pc: number) => p.x0 + (ninesOf(pc) / p.maxNines) * p.w;
  const sy = (us: number) =>
    p.y0 + p.h - ((Math.log10(Math.max(us, 10 ** p.logLo)) - p.logLo) / (p.logHi - p.logLo)) * p.h;
  const parts = [title, ...axes(input, p)];
  drawn.forEach((c, i) => {
    const colour = colourOf(input.contenders, c);
    const pts = input.percentiles.map((pc, k) => `${r(sx(pc))},${r(sy(input.distributions[c]![k]!))}`);
    parts.push(
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="2.2" stroke-linejoin="round"/>`,
    );
    for (const pt of pts) {
      const [cx, cy] = pt.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.6" fill="${colour}"/>`);
    }
    const ly = p.y0 + 10 + i * 22;
    const lx = p.x0 + p.w + 18;
    parts.push(
      `<line x1="${r(lx)}" y1="${r(ly)}" x2="${r(lx + 22)}" y2="${r(ly)}" stroke="${colour}" stroke-width="3"/>`,
      text(lx + 28, ly + 4, c, 'font-size="12" fill="#222"'),
    );
  });
  return [parts.join('\n'), 28 + p.h + 44];
}

/** The whole picture, as an SVG document. */
export function renderChart(input: ChartInput): string {
  let y = PAD;
  const body: string[] = [
    text(PAD, y + 16, input.title, 'font-size="18" font-weight="700" fill="#111"'),
    text(PAD, y + 36, input.subtitle, 'font-size="12" fill="#555"'),
  ];
  y += 56;
  const sections: Array<[string, readonly ChartFigure[], number]> = [
    ['Throughput', input.throughput, 2],
    ['Latency, one request at a time', input.latency, 3],
  ];
  for (const [name, figures, columns] of sections) {
    if (figures.length === 0) continue;
    body.push(text(PAD, y + 14, name, 'font-size="15" font-weight="700" fill="#111"'));
    y += 26;
    const [svg, h] = barGrid(input, figures, y, columns);
    body.push(svg);
    y += h + 8;
  }
  const [dist, h] = distributionPanel(input, y);
  body.push(dist);
  y += h + PAD;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${r(y)}" viewBox="0 0 ${WIDTH} ${r(y)}" ${FONT} role="img" aria-label="${escapeXml(input.title)}">`,
    `<title>${escapeXml(`${input.title}: ${input.subtitle}`)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}
