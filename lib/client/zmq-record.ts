import { hedgeFields } from '../config/client-config.js';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { numberOption } from '../config/common.js';
import type { CallPolicy } from '../protocol/client/retries.js';

/** One call's options, given with its data in a {@link ZmqRecord}. */
export interface ZmqCallOptions {
  /**
   * `false`: this call is never sent twice, whatever its pattern (no retry
   * after a lost server, no hedge). `true`: retried as the client's `retries`
   * says, or with the defaults on a client with `retries: false`.
   * @default the client's `retries`
   */
  retry?: boolean;
  /**
   * Hedging of this call: `false` off, `true` the client's `hedging` (or the
   * defaults), or settings whose fields replace the client's. Only calls
   * whose server declared their pattern idempotent are hedged.
   * @default the client's `hedging`
   */
  hedge?: boolean | { delayMs?: number; maxAttempts?: number };
  /**
   * Milliseconds this call may wait for its next reply message before it
   * fails with `TIMEOUT`, instead of the client's `requestTimeout` (the
   * server is told it as the call's deadline; retries and hedges start within
   * it); `0`: no limit. At most 2147483647 (a timer's limit).
   * @default the client's `requestTimeout`
   */
  timeout?: number;
}

/** The brand of a record: `instanceof` fails across the package's CJS and ESM builds, a registered symbol does not. */
const RECORD = Symbol.for('nestjs-zeromq.ZmqRecord');

/**
 * A request's data with options for this one call, in the style of Nest's
 * `RmqRecord` / `NatsRecord`: the client unwraps it, so the server receives
 * `data` alone. Its options are checked here (INVALID_OPTIONS).
 *
 * ```ts
 * client.send('users.get', new ZmqRecord(id, { retry: false }));
 * client.send('users.get', new ZmqRecord(id, { hedge: { delayMs: 20 } }));
 * ```
 */
export class ZmqRecord<TData = unknown> {
  readonly [RECORD] = true;
  /** The options, checked and frozen. */
  readonly options: Readonly<ZmqCallOptions>;

  constructor(
    readonly data: TData,
    options: ZmqCallOptions = {},
  ) {
    this.options = checkCallOptions(options);
  }

  /** Whether `value` is a record (of this package, CJS or ESM build). */
  static is(value: unknown): value is ZmqRecord {
    return typeof value === 'object' && value !== null && (value as { [RECORD]?: unknown })[RECORD] === true;
  }
}

/** Builds a {@link ZmqRecord}, as Nest's `RmqRecordBuilder` builds an `RmqRecord`. */
export class ZmqRecordBuilder<TData = unknown> {
  private options: ZmqCallOptions = {};

  constructor(private data?: TData) {}

  setData(data: TData): this {
    this.data = data;
    return this;
  }

  /** Adds options (merged over those set before). */
  setOptions(options: ZmqCallOptions): this {
    this.options = { ...this.options, ...options };
    return this;
  }

  /** The record; INVALID_OPTIONS when the options are not valid. */
  build(): ZmqRecord<TData> {
    return new ZmqRecord(this.data as TData, this.options);
  }
}

/** A request's data: a record's, or the value itself (nothing allocated). */
export function recordData(value: unknown): unknown {
  return ZmqRecord.is(value) ? value.data : value;
}

/** A call's own policy: a record's options, or none. */
export function recordPolicy(value: unknown): CallPolicy | undefined {
  return ZmqRecord.is(value) ? value.options : undefined;
}

function checkCallOptions(options: ZmqCallOptions): Readonly<ZmqCallOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new ZmqOptionsError('record', "a ZmqRecord's options must be an object { retry?, hedge?, timeout? }");
  }
  for (const key of Object.keys(options)) {
    if (!RECORD_OPTIONS.includes(key))
      throw new ZmqOptionsError(
        `record.${key}`,
        `unknown ZmqRecord option "${key}" (known: ${RECORD_OPTIONS.join(', ')})`,
      );
  }
  const { retry, hedge, timeout } = options;
  if (retry !== undefined && typeof retry !== 'boolean') {
    throw new ZmqOptionsError('record.retry', '"retry" must be true or false');
  }
  const out: ZmqCallOptions = { ...(retry !== undefined ? { retry } : {}) };
  if (timeout !== undefined) out.timeout = checkTimeout(timeout);
  if (hedge !== undefined) out.hedge = checkHedge(hedge);
  if (retry === false && out.hedge !== undefined && out.hedge !== false) {
    throw new ZmqOptionsError('record.hedge', '"retry: false" never sends a call twice: it cannot be hedged');
  }
  return Object.freeze(out);
}

/** The keys of {@link ZmqCallOptions}. */
const RECORD_OPTIONS: readonly string[] = ['retry', 'hedge', 'timeout'];

/** The longest delay a timer takes (Node fires a longer one at once). */
const MAX_TIMER_MS = 2_147_483_647;

function checkTimeout(timeout: unknown): number {
  const ms = numberOption(timeout as number, 0, 'record.timeout', true);
  if (ms > MAX_TIMER_MS)
    throw new ZmqOptionsError('record.timeout', `"record.timeout" must be at most ${MAX_TIMER_MS}`);
  return ms;
}

function checkHedge(hedge: unknown): NonNullable<ZmqCallOptions['hedge']> {
  if (typeof hedge === 'boolean') return hedge;
  if (typeof hedge === 'object' && hedge !== null) return hedgeFields(hedge, 'record.hedge');
  throw new ZmqOptionsError('record.hedge', '"hedge" must be true, false or { delayMs?, maxAttempts? }');
}
