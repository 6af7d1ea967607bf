import { Clock, monotonicClock, realScheduler, Scheduler } from '../protocol/clock.js';

export type LimitedLevel = 'debug' | 'warn' | 'error';

/** Where the limiter writes: one call per line it lets through or summarises. */
export type LimitedSink = (level: LimitedLevel, message: string) => void;

export interface LogLimiterOptions {
  /** How long one window of a condition lasts. */
  readonly windowMs?: number;
  /** Lines of one condition written as they come in each window; the rest are counted. */
  readonly burst?: number;
  /** Conditions tracked at once; past it the oldest is summarised and forgotten. */
  readonly maxConditions?: number;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
}

interface Condition {
  level: LimitedLevel;
  windowStart: number;
  written: number;
  suppressed: number;
  lastMessage: string;
  timer: unknown;
}

/** Defaults: a condition writes at most 3 lines per 10 s, then one summary line. */
export const LOG_WINDOW_MS = 10_000;
export const LOG_BURST = 3;
export const LOG_MAX_CONDITIONS = 256;

/**
 * Rate-limits repeated log conditions. Each condition (a `kind`, such as
 * "refused handshake") writes its first `burst` lines of a window as they
 * come; later ones in the same window are counted, and one summary line
 * ("… 1,234 more in the last 10 s; the last: …") is written when the window
 * ends. A peer that triggers a condition a million times costs one line per
 * window, not a million.
 */
export class LogLimiter {
  private readonly windowMs: number;
  private readonly burst: number;
  private readonly maxConditions: number;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly conditions = new Map<string, Condition>();

  constructor(
    private readonly sink: LimitedSink,
    options: LogLimiterOptions = {},
  ) {
    this.windowMs = options.windowMs ?? LOG_WINDOW_MS;
    this.burst = options.burst ?? LOG_BURST;
    this.maxConditions = options.maxConditions ?? LOG_MAX_CONDITIONS;
    this.clock = options.clock ?? monotonicClock;
    this.scheduler = options.scheduler ?? realScheduler;
  }

  /** Writes `message` at `level` unless `kind` has used up its lines in this window. */
  log(level: LimitedLevel, kind: string, message: string): void {
    const now = this.clock.now();
    let condition = this.conditions.get(kind);
    if (condition !== undefined && now - condition.windowStart >= this.windowMs) {
      this.close(kind, condition);
      condition = undefined;
    }
    if (condition === undefined) {
      if (this.conditions.size >= this.maxConditions) this.evictOldest();
      condition = { level, windowStart: now, written: 0, suppressed: 0, lastMessage: '', timer: undefined };
      this.conditions.set(kind, condition);
    }
    if (condition.written < this.burst) {
      condition.written++;
      this.sink(level, message);
      return;
    }
    condition.suppressed++;
    condition.lastMessage = message;
    if (condition.timer === undefined) {
      const open = condition;
      const wait = Math.max(0, open.windowStart + this.windowMs - now);
      open.timer = this.scheduler.setTimeout(() => {
        open.timer = undefined;
        if (this.conditions.get(kind) === open) this.close(kind, open);
      }, wait);
    }
  }

  /** Writes every pending summary now (on close, so nothing counted is lost). */
  flush(): void {
    for (const [kind, condition] of [...this.conditions]) this.close(kind, condition);
  }

  private evictOldest(): void {
    const first = this.conditions.entries().next();
    if (!first.done) this.close(first.value[0], first.value[1]);
  }

  private close(kind: string, condition: Condition): void {
    this.conditions.delete(kind);
    if (condition.timer !== undefined) {
      this.scheduler.clearTimeout(condition.timer);
      condition.timer = undefined;
    }
    if (condition.suppressed === 0) return;
    const seconds = Math.round(this.windowMs / 1000);
    this.sink(
      condition.level,
      `${kind}: ${condition.suppressed.toLocaleString('en-US')} more in the last ${seconds} s; the last: ${condition.lastMessage}`,
    );
  }
}

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi overrides.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A string a peer chose (an id, a pattern, metadata), made safe for a log line
 * or a terminal: control characters (escape sequences included) become `\xNN`
 * / `\uNNNN`, and it is cut at `max` characters.
 */
export function printable(value: string, max = 200): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(UNPRINTABLE, c => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
