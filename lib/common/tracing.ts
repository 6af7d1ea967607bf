import type * as OtelApi from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import { ZmqErrorCode } from '../errors/zmq.errors.js';
import { errorCode, RESERVED_PATTERN_PREFIX } from '../protocol/metrics.js';
import { ATTR, endpointAttributes, rpcNames, SYSTEM } from './trace-attributes.js';

export { ATTR } from './trace-attributes.js';

/** The reserved metadata keys of W3C trace context (docs/PROTOCOL.md §5.4). */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** The instrumentation scope of every span. */
const TRACER_NAME = 'nestjs-zeromq';

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
      this.span.setAttribute(ATTR.errorType, code);
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
  /** The server(s) it went to, and (for a request) the endpoint of its link. */
  peer(peerId: string, endpoint?: string): void;
  /** The envelope's metadata: the user's (if any) plus the propagator's fields (W3C: `traceparent` / `tracestate`). */
  metadata(user: Record<string, string> | undefined): Record<string, string>;
}

/**
 * Starts a client span for `pattern` as a child of the active context:
 * `send` a request, an RPC span of kind CLIENT; `emit` an event, a
 * messaging span of kind PRODUCER. `undefined` when tracing is off.
 */
export function startClientSpan(pattern: string, what: 'send' | 'emit' = 'send'): ClientTrace | undefined {
  const tracer = activeTracer();
  if (tracer === undefined || api === undefined || pattern.startsWith(RESERVED_PATTERN_PREFIX)) return undefined;
  const otel = api;
  const rpc = what === 'send' ? rpcNames(pattern) : undefined;
  const active = otel.context.active();
  const span = tracer.startSpan(
    rpc?.name ?? `send ${pattern}`,
    {
      kind: rpc !== undefined ? otel.SpanKind.CLIENT : otel.SpanKind.PRODUCER,
      attributes: rpc !== undefined ? rpcAttributes(rpc, pattern) : messagingAttributes(pattern, 'send'),
    },
    active,
  );
  const spanContext = otel.trace.setSpan(active, span);
  return {
    call: new TracedCall(otel, span),
    peer: (peerId, endpoint) => {
      span.setAttribute(ATTR.peerId, peerId);
      if (endpoint !== undefined) span.setAttributes(endpointAttributes(endpoint));
    },
    metadata: user => injected(otel, spanContext, span, user),
  };
}

function rpcAttributes(rpc: { service?: string; method: string }, pattern: string): OtelApi.Attributes {
  return {
    [ATTR.system]: SYSTEM,
    [ATTR.method]: rpc.method,
    ...(rpc.service !== undefined ? { [ATTR.service]: rpc.service } : {}),
    [ATTR.pattern]: pattern,
  };
}

function messagingAttributes(pattern: string, operation: 'send' | 'process'): OtelApi.Attributes {
  return {
    [ATTR.messagingSystem]: SYSTEM,
    [ATTR.destination]: pattern,
    [ATTR.operationType]: operation,
    [ATTR.operationName]: operation,
    [ATTR.pattern]: pattern,
  };
}

/** A carrier over an envelope's metadata, for the propagation API. */
const SETTER: OtelApi.TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => void (carrier[key] = value),
};
const GETTER: OtelApi.TextMapGetter<Record<string, string>> = {
  keys: carrier => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * The user's metadata plus the span's context as the registered propagator
 * writes it (W3C trace context, B3, baggage...); the propagator's own fields
 * in the user's metadata are replaced. With no propagator registered (the
 * API's no-op one), W3C trace context is written, so that a server can
 * still join the trace.
 */
function injected(
  otel: Api,
  ctx: OtelApi.Context,
  span: Span,
  user: Record<string, string> | undefined,
): Record<string, string> {
  const out: Record<string, string> = { ...user };
  const fields = otel.propagation.fields();
  if (fields.length > 0) {
    for (const field of fields) delete out[field];
    otel.propagation.inject(ctx, out, SETTER);
    return out;
  }
  const sc = span.spanContext();
  delete out[TRACESTATE];
  if (!otel.isSpanContextValid(sc)) return out;
  out[TRACEPARENT] = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  const state = sc.traceState?.serialize();
  if (state) out[TRACESTATE] = state;
  return out;
}

/** A server span for a handler, the child of the caller's context, and a way to run the handler inside it. */
export interface ServerTrace {
  readonly call: TracedCall;
  run<T>(fn: () => T): T;
}

/**
 * Starts a server span for `pattern`, the child of the caller's context as
 * the registered propagator reads it from the envelope's metadata (a root
 * span without one): an RPC span of kind SERVER for a request's handler, a
 * messaging span of kind CONSUMER for an event's (no request id).
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
  const rpc = requestId !== undefined ? rpcNames(pattern) : undefined;
  const attributes = {
    ...(rpc !== undefined ? rpcAttributes(rpc, pattern) : messagingAttributes(pattern, 'process')),
    [ATTR.peerId]: peerId,
    ...(requestId !== undefined ? { [ATTR.requestId]: requestId } : {}),
  };
  const kind = rpc !== undefined ? otel.SpanKind.SERVER : otel.SpanKind.CONSUMER;
  const span = tracer.startSpan(rpc?.name ?? `process ${pattern}`, { kind, attributes }, parent);
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
 * A W3C `traceparent` (Trace Context §3.5): its trace id, parent span id and
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

/**
 * The caller's context: what the registered propagator extracts from the
 * metadata, or, with none registered, its W3C `traceparent` / `tracestate`;
 * the active context when absent or invalid.
 */
function remoteContext(otel: Api, metadata: Record<string, string> | undefined): OtelApi.Context {
  const base = otel.context.active();
  if (metadata === undefined) return base;
  if (otel.propagation.fields().length > 0) return otel.propagation.extract(base, metadata, GETTER);
  const header = metadata[TRACEPARENT];
  const parsed = header === undefined ? undefined : parseTraceparent(header);
  if (parsed === undefined) return base;
  const state = metadata[TRACESTATE];
  return otel.trace.setSpanContext(base, {
    traceId: parsed.traceId,
    spanId: parsed.spanId,
    traceFlags: parsed.sampled ? 1 : 0,
    isRemote: true,
    ...(state ? { traceState: otel.createTraceState(state) } : {}),
  });
}
