import { ZmqErrorCode } from '../errors/zmq.errors.js';
import type { ZmqLatency, ZmqMetrics, ZmqPatternMetrics } from '../interfaces/zmq-metrics.interface.js';
import type { Clock } from './clock.js';
import { MAX_METRIC_ERROR_CODES, MAX_METRIC_PATTERNS } from './tuning.js';

/**
 * Upper bounds, in seconds, of every latency histogram: 50 µs to 10 s, about
 * 2.5 per decade (the last bucket, `+Inf`, is the count).
 */
export const ZMQ_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** The same bounds, for the search in `observe` (a typed array is about twice as fast to scan). */
const BOUNDS = new Float64Array(ZMQ_LATENCY_BUCKETS);

/** Patterns of the transport itself (docs/PROTOCOL.md §5.7): never counted. */
export const RESERVED_PATTERN_PREFIX = '$zmq/';

/** Where the figures of patterns beyond MAX_METRIC_PATTERNS go. */
export const OTHER_PATTERNS = '$other';

/**
 * Where requests and events of patterns this side does not serve are
 * counted: one record for all of them, so a peer that sends many patterns
 * nobody serves creates no record per pattern.
 */
export const UNHANDLED_PATTERNS = '$unhandled';

/** How a call ended, for its pattern's counters. */
export type CallOutcome = 'ok' | 'error' | 'cancel' | 'timeout';

/** A latency histogram over fixed buckets: one preallocated array, nothing allocated per observation. */
export class Histogram {
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last slot is `+Inf`. */
  private readonly counts = new Float64Array(ZMQ_LATENCY_BUCKETS.length + 1);

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const n = BOUNDS.length;
    let i = 0;
    while (i < n && seconds > BOUNDS[i]!) i++;
    this.counts[i]!++;
  }

  snapshot(): ZmqLatency {
    let cumulative = 0;
    const buckets = ZMQ_LATENCY_BUCKETS.map((le, i) => ({ le, count: (cumulative += this.counts[i]!) }));
    return { count: this.count, sum: this.sum, buckets };
  }
}

/** The counters of one pattern: created once, at its first request or event, and reused. */
export class PatternRecord {
  requests = 0;
  events = 0;
  ok = 0;
  cancels = 0;
  timeouts = 0;
  /** Client: attempts sent again after a loss, hedges sent, and calls a hedge answered first. */
  retries = 0;
  hedges = 0;
  hedgesWon = 0;
  readonly errors = new Map<string, number>();
  readonly latency = new Histogram();
  readonly firstChunk: Histogram | undefined;

  constructor(firstChunk: boolean) {
    this.firstChunk = firstChunk ? new Histogram() : undefined;
  }

  /** Counts one ended call; `seconds` is observed when it is not negative. */
  end(outcome: CallOutcome, seconds: number, code: string | undefined): void {
    if (outcome === 'ok') this.ok++;
    else if (outcome === 'cancel') this.cancels++;
    else if (outcome === 'timeout') this.timeouts++;
    else this.error(code ?? ZmqErrorCode.REMOTE_ERROR);
    if (seconds >= 0) this.latency.observe(seconds);
  }

  private error(code: string): void {
    const n = this.errors.get(code);
    if (n !== undefined) this.errors.set(code, n + 1);
    else if (this.errors.size < MAX_METRIC_ERROR_CODES) this.errors.set(code, 1);
    else this.errors.set('OTHER', (this.errors.get('OTHER') ?? 0) + 1);
  }

  snapshot(): ZmqPatternMetrics {
    const { requests, events, ok, cancels, timeouts } = this;
    const errors: Record<string, number> = {};
    for (const [code, n] of this.errors) errors[code] = n;
    return {
      requests,
      events,
      ok,
      errors,
      cancels,
      timeouts,
      latency: this.latency.snapshot(),
      ...(this.firstChunk !== undefined
        ? {
            firstChunk: this.firstChunk.snapshot(),
            retries: this.retries,
            hedges: this.hedges,
            hedgesWon: this.hedgesWon,
          }
        : {}),
    };
  }
}

/** What a call keeps for its metrics (fields of the call object: nothing allocated per call). */
export interface Metered {
  /** Its pattern's record; `undefined` when metrics are off or the pattern is reserved. */
  meter: PatternRecord | undefined;
  /** When it started, on the metrics clock (ms). */
  started: number;
}

/**
 * One side's metrics: a record per pattern (bounded, reserved patterns
 * skipped), fed by the engines where calls start and end and events pass,
 * read as plain data by `getMetrics()`. Switched off (`metrics: false`),
 * every hook returns at once.
 *
 * Times are in ms on the engine's clock. A hook takes the time from its
 * caller when the engine has just read it (the client's call tracker at the
 * start; the receive time of the message that carried a REQUEST or a reply,
 * kept as the peer's `lastSeen`), so that a request costs the client no clock
 * read of its own and the server one (at the end).
 */
export class Metrics {
  private readonly records = new Map<string, PatternRecord | null>();
  private other: PatternRecord | undefined;
  private unserved: PatternRecord | undefined;

  constructor(
    /** Monotonic, in ms (the engine's clock). */
    private readonly clock: Clock,
    readonly enabled: boolean,
    /** Keep a time-to-first-chunk histogram (the client). */
    private readonly firstChunk: boolean,
  ) {}

  /** The record of `pattern`, created at its first use; `undefined` when off or reserved. */
  record(pattern: string): PatternRecord | undefined {
    if (!this.enabled) return undefined;
    const found = this.records.get(pattern);
    if (found !== undefined) return found ?? undefined;
    if (pattern.startsWith(RESERVED_PATTERN_PREFIX)) {
      this.records.set(pattern, null);
      return undefined;
    }
    if (this.records.size >= MAX_METRIC_PATTERNS) return (this.other ??= new PatternRecord(this.firstChunk));
    const record = new PatternRecord(this.firstChunk);
    this.records.set(pattern, record);
    return record;
  }

  /** A call of `pattern` starts `at` (default: now). */
  start(call: Metered, pattern: string, at?: number): void {
    const meter = (call.meter = this.record(pattern));
    if (meter === undefined) return;
    meter.requests++;
    call.started = at ?? this.clock.now();
  }

  /** Its first CHUNK arrived `at` (client). */
  firstReply(call: Metered, at: number): void {
    call.meter?.firstChunk?.observe((at - call.started) / 1000);
  }

  /** The call ended `at` (default: now) with a round trip: ok, or an error the peer answered; its latency is observed. */
  end(call: Metered, outcome: 'ok' | 'error', code?: string, at?: number): void {
    const meter = call.meter;
    if (meter === undefined) return;
    call.meter = undefined; // ends once
    meter.end(outcome, ((at ?? this.clock.now()) - call.started) / 1000, code);
  }

  /** The call ended without a round trip (cancel, timeout, a local error such as PEER_LOST): counted, not timed. */
  abort(call: Metered, outcome: CallOutcome, code?: string): void {
    const meter = call.meter;
    if (meter === undefined) return;
    call.meter = undefined;
    meter.end(outcome, -1, code);
  }

  /** The call went out again after its attempt was lost or shed (client). */
  retried(call: Metered): void {
    if (call.meter !== undefined) call.meter.retries++;
  }

  /** A hedge of the call went out (client). */
  hedged(call: Metered): void {
    if (call.meter !== undefined) call.meter.hedges++;
  }

  /** A hedge answered the call first (client). */
  hedgeWon(call: Metered): void {
    if (call.meter !== undefined) call.meter.hedgesWon++;
  }

  /** `n` events of `pattern` went out (client) or came in (server). */
  event(pattern: string, n = 1): void {
    const meter = this.record(pattern);
    if (meter !== undefined) meter.events += n;
  }

  /** A request or event of a pattern nobody serves: counted under {@link UNHANDLED_PATTERNS}, never per pattern. */
  unhandled(kind: 'request' | 'event'): void {
    if (!this.enabled) return;
    const record = (this.unserved ??= new PatternRecord(false));
    if (kind === 'event') record.events++;
    else {
      record.requests++;
      record.end('error', -1, ZmqErrorCode.NO_HANDLER);
    }
  }

  /** A request that never went out (NO_PEER, TOO_LARGE...): counted as started and failed. */
  refused(pattern: string, err: unknown): void {
    const meter = this.record(pattern);
    if (meter === undefined) return;
    meter.requests++;
    meter.end('error', -1, errorCode(err));
  }

  /** Every pattern's figures and the gauges, as plain data. */
  snapshot(gauges: { peers: number; inFlight: number; queued: number }): ZmqMetrics {
    const patterns: Record<string, ZmqPatternMetrics> = {};
    for (const [pattern, record] of this.records) if (record !== null) patterns[pattern] = record.snapshot();
    if (this.other !== undefined) patterns[OTHER_PATTERNS] = this.other.snapshot();
    if (this.unserved !== undefined) patterns[UNHANDLED_PATTERNS] = this.unserved.snapshot();
    return { patterns, peers: gauges.peers, inFlight: gauges.inFlight, queued: gauges.queued };
  }
}

/** The code an error is counted under: its `code` (string or number), else REMOTE_ERROR. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : ZmqErrorCode.REMOTE_ERROR;
}
