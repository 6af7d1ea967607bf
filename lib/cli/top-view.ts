import { printable } from '../common/log-limiter.js';
import type { TopRow, ZmqMetricsSnapshot } from './top-model.js';

/** What one frame of `top` shows. */
export interface TopFrame {
  endpoint: string;
  /** The latest snapshot; `undefined` until one arrived. */
  snapshot: ZmqMetricsSnapshot | undefined;
  rows: TopRow[];
  /** Why the latest refresh failed, if it did (shown instead of going away). */
  error?: string;
  /** Wall-clock time of the frame. */
  at: Date;
  /** Refresh interval, in ms. */
  intervalMs: number;
}

const COLUMNS: Array<[string, number, (r: TopRow) => string]> = [
  ['REQ/S', 9, r => rate(r.requestsPerSec)],
  ['EV/S', 8, r => rate(r.eventsPerSec)],
  ['P50', 10, r => latency(r.p50Ms)],
  ['P99', 10, r => latency(r.p99Ms)],
  ['ERR/S', 8, r => rate(r.errorsPerSec)],
  ['TOTAL', 9, r => String(r.requests + r.events)],
  ['ERRORS', 8, r => String(r.errors)],
  ['CANCELS', 8, r => String(r.cancels)],
  ['TIMEOUTS', 9, r => String(r.timeouts)],
];

function rate(n: number): string {
  return n === 0 ? '0' : n < 10 ? n.toFixed(1) : Math.round(n).toString();
}

function latency(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/** `1h 02m 03s`, `4m 05s`, `6s`. */
export function uptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n: number) => n.toString().padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(sec)}s`;
  if (m > 0) return `${m}m ${pad(sec)}s`;
  return `${sec}s`;
}

function header(frame: TopFrame): string[] {
  const s = frame.snapshot;
  const clock = frame.at.toTimeString().slice(0, 8);
  const lines = [
    `nestjs-zeromq top  ${frame.endpoint}${s !== undefined ? `  server ${s.serverId}  up ${uptime(s.uptimeMs)}` : ''}  ${clock}`,
  ];
  if (s !== undefined) {
    const { peers, inFlight, queued } = s.metrics;
    lines.push(
      `peers ${peers}  in flight ${inFlight}  queued ${queued}  (every ${frame.intervalMs} ms; q or Ctrl-C quits)`,
    );
    const names = s.peers.map(p => p.peerId + (p.endpoint !== undefined ? ` (${p.endpoint})` : ''));
    lines.push(`clients: ${names.length > 0 ? names.join(', ') : '(none)'}`);
  }
  if (frame.error !== undefined) lines.push(`! ${frame.error}`);
  return lines;
}

/** The frame as lines of at most `width` characters (and at most `height` lines). */
export function renderTop(frame: TopFrame, width: number, height: number): string[] {
  const lines = header(frame);
  lines.push('');
  const patternWidth = Math.max(7, Math.min(40, ...frame.rows.map(r => r.pattern.length)));
  const cells = (pattern: string, values: string[], codes: string) =>
    [pattern.padEnd(patternWidth), ...values.map((v, i) => v.padStart(COLUMNS[i]![1]))].join(' ') + `  ${codes}`;
  lines.push(
    cells(
      'PATTERN',
      COLUMNS.map(c => c[0]),
      'ERROR CODES',
    ).trimEnd(),
  );
  for (const r of frame.rows) {
    const name = r.pattern.length > patternWidth ? `${r.pattern.slice(0, patternWidth - 1)}…` : r.pattern;
    const codes = r.errorCodes.map(([code, n]) => `${code}:${n}`).join(' ');
    lines.push(
      cells(
        name,
        COLUMNS.map(c => c[2](r)),
        codes,
      ).trimEnd(),
    );
  }
  if (frame.rows.length === 0 && frame.snapshot !== undefined) lines.push('(no requests or events yet)');
  // Ids, patterns and messages come from peers: an escape sequence in one must not reach the terminal.
  const safe = lines.map(l => printable(l, Number.MAX_SAFE_INTEGER));
  const fitted = safe.map(l => (l.length > width ? `${l.slice(0, Math.max(0, width - 1))}…` : l));
  return fitted.slice(0, Math.max(1, height));
}
