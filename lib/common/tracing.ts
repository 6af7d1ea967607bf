import type * as OtelApi from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import { ZmqErrorCode } from '../errors/zmq.errors.js';
import { errorCode, RESERVED_PATTERN_PREFIX } from '../protocol/metrics.js';

/** The reserved metadata keys of W3C trace context (docs/PROTOCOL.md §5.5). */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** The instrumentation scope of every span. */
const TRACER_NAME = 'nestjs-zeromq';

/** Span attributes (README "Tracing"). */
export const ATTR = {
  system: 'rpc.system',
  method: 'rpc.method',
  pattern: 'zmq.pattern',
  peerId: 'zmq.peer_id',
  requestId: 'zmq.request_id',
  outcome: 'zmq.outcome',
  errorCode: 'zmq.error_code',
} as const;

/** How a traced call ended (the `zmq.outcome` attribute). */
export type TraceOutcome = 'ok' | 'error' | 'cancelled' | 'timeout';

type Api = typeof OtelApi;

let api: Api | undefined;
/** `api.trace`, read once (a module namespace's getter costs on every read). */
let traceApi: Api['trace'] | undefined;
let loading: Promise<void> | undefined;
let settled = false;

/**
 * Loads `@opentelemetry/api` (an optional peer dependency) once per process;
 * never rejects: without it, tracing stays off and nothing else is done.
 */
export function loadTracing(): Promise<void> {
  return (loading ??= import('@opentelemetry/api')
    .then(
      mod => {
        const m = mod as Api & { default?: Api };
        api = typeof m.trace?.getTracerProvider === 'function' ? m : m.default;
        traceApi = api?.trace;
      },
      () => undefined,
    )
    .finally(() => (settled = true)));
}

/** The load has settled (loaded, or known absent): `loadTracing()` need not be awaited again. */
export function tracingLoaded(): boolean {
  return settled;
}

/**
 * The tracer when the API is loaded and a tracer provider is registered;
 * `undefined` otherwise, without creating anything (no span, no context).
 */
function activeTracer(): Tracer | undefined {
  if (traceApi === undefined) return undefined;
  const provider = traceApi.getTracerProvider() as OtelApi.TracerProvider & Partial<OtelApi.ProxyTracerProvider>;
  return typeof provider.getDelegateTracer === 'function'
    ? provider.getDelegateTracer(TRACER_NAME)
    : provider.getTracer(TRACER_NAME);
}

/** One traced call: its span, ended once with its outcome. */
export class TracedCall {
  private ended = false;

  constructor(
    private readonly otel: Api,
    readonly span: Span,
  ) {}

  /** Ends the span: `ok`, or the outcome of `err` (TIMEOUT is `timeout`). */
  end(outcome: TraceOutcome, err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.span.setAttribute(ATTR.outcome, outcome);
    if (outcome === 'error' || outcome === 'timeout') {
      const code = errorCode(err);
      this.span.setAttribute(ATTR.errorCode, code);
      const message = (err as { message?: unknown } | null)?.message;
      this.span.setStatus({
        code: this.otel.SpanStatusCode.ERROR,
        message: typeof message === 'string' ? message : code,
      });
    }
    this.span.end();
  }

  /** The outcome of a reply packet's error. */
  static outcomeOf(err: unknown): TraceOutcome {
    return errorCode(err) === ZmqErrorCode.TIMEOUT ? 'timeout' : 'error';
  }
}

/** A client span for a request or an event, and the metadata that carries its context to the server(s). */
export interface ClientTrace {
  readonly call: TracedCall;
  /** The server(s) it went to. */
  peer(peerId: string): void;
  /** The envelope's metadata: the user's (if any) plus `traceparent` / `tracestate`. */
  metadata(user: Record<string, string> | undefined): Record<string, string>;
}

/**
 * Starts a client span for `pattern` (`send` a request: kind CLIENT; `emit`
 * an event: kind PRODUCER) as a child of the active context; `undefined`
 * when tracing is off.
 */
export function startClientSpan(pattern: string, what: 'send' | 'emit' = 'send'): ClientTrace | undefined {
  const tracer = activeTracer();
  if (tracer === undefined || api === undefined || pattern.startsWith(RESERVED_PATTERN_PREFIX)) return undefined;
  const otel = api;
  const span = tracer.startSpan(
    `${what} ${pattern}`,
    {
      kind: what === 'send' ? otel.SpanKind.CLIENT : otel.SpanKind.PRODUCER,
      attributes: { [ATTR.system]: TRACER_NAME, [ATTR.method]: pattern, [ATTR.pattern]: pattern },
    },
    otel.context.active(),
  );
  return {
    call: new TracedCall(otel, span),
    peer: peerId => span.setAttribute(ATTR.peerId, peerId),
    metadata(user) {
      const out: Record<string, string> = { ...user };
      const sc = span.spanContext();
      if (!otel.isSpanContextValid(sc)) return out;
      out[TRACEPARENT] = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
      const state = sc.traceState?.serialize();
      if (state) out[TRACESTATE] = state;
      else delete out[TRACESTATE];
      return out;
    },
  };
}

/** A server span for a handler, the child of the caller's context, and a way to run the handler inside it. */
export interface ServerTrace {
  readonly call: TracedCall;
  run<T>(fn: () => T): T;
}

/**
 * Starts a server span for `pattern`, the child of the context in the
 * envelope's `traceparent` / `tracestate` (a root span without one): kind
 * SERVER for a request's handler, CONSUMER for an event's (no request id);
 * `undefined` when tracing is off.
 */
export function startServerSpan(
  pattern: string,
  peerId: string,
  requestId: number | undefined,
  metadata: Record<string, string> | undefined,
): ServerTrace | undefined {
  const tracer = activeTracer();
  if (tracer === undefined || api === undefined || pattern.startsWith(RESERVED_PATTERN_PREFIX)) return undefined;
  const otel = api;
  const parent = remoteContext(otel, metadata);
  const attributes = {
    [ATTR.system]: TRACER_NAME,
    [ATTR.method]: pattern,
    [ATTR.pattern]: pattern,
    [ATTR.peerId]: peerId,
    ...(requestId !== undefined ? { [ATTR.requestId]: requestId } : {}),
  };
  const kind = requestId !== undefined ? otel.SpanKind.SERVER : otel.SpanKind.CONSUMER;
  const span = tracer.startSpan(
    `${requestId !== undefined ? 'handle' : 'receive'} ${pattern}`,
    { kind, attributes },
    parent,
  );
  const active = otel.trace.setSpan(parent, span);
  return { call: new TracedCall(otel, span), run: fn => otel.context.with(active, fn) };
}

/** Ends a handler's span with how its call ended (a call still in progress when its handler settled is `ok`). */
export function endServerSpan(
  traced: TracedCall,
  call: { readonly outcome: 'ok' | 'error' | 'cancel' | 'timeout' | undefined; readonly errorCode: string | undefined },
): void {
  const outcome = call.outcome === 'cancel' ? 'cancelled' : (call.outcome ?? 'ok');
  traced.end(outcome, call.errorCode === undefined ? undefined : { code: call.errorCode, message: call.errorCode });
}

const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO = /^0+$/;

/**
 * A W3C `traceparent` (Trace Context §3.2): its trace id, parent span id and
 * sampled flag; `undefined` when it is not one (version ff, all-zero ids,
 * anything after the flags of version 00, wrong lengths or case).
 */
export function parseTraceparent(header: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const match = TRACEPARENT_FORMAT.exec(header.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (ZERO.test(traceId!) || ZERO.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, sampled: (parseInt(flags!, 16) & 0x01) === 1 };
}

/** The caller's context from W3C `traceparent` / `tracestate`; the active context when absent or invalid. */
function remoteContext(otel: Api, metadata: Record<string, string> | undefined): OtelApi.Context {
  const base = otel.context.active();
  const header = metadata?.[TRACEPARENT];
  const parsed = header === undefined ? undefined : parseTraceparent(header);
  if (parsed === undefined) return base;
  const state = metadata?.[TRACESTATE];
  return otel.trace.setSpanContext(base, {
    traceId: parsed.traceId,
    spanId: parsed.spanId,
    traceFlags: parsed.sampled ? 1 : 0,
    isRemote: true,
    ...(state ? { traceState: otel.createTraceState(state) } : {}),
  });
}
