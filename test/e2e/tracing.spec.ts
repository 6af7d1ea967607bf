/**
 * W3C trace context and OpenTelemetry spans over real sockets, with the SDK's
 * in-memory exporter: no user code in the apps, on Nest 11 and 12.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import {
  context,
  createTraceState,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { firstValueFrom, lastValueFrom, Observable, toArray } from 'rxjs';
import { Dealer } from 'zeromq';
import { ZMQ_METRICS_PATTERN, ZmqContext } from 'nestjs-zeromq';
import { Probe, rejectionOf } from '../helpers/async';
import { runTsChild } from '../helpers/child';
import { Harness, hasDispatchHook } from '../helpers/nest';
import { ENC, header, helloPayload, json, T } from '../helpers/wire';

const probe = new Probe();

@Controller()
class TracedController {
  @MessagePattern('echo')
  echo(@Payload() v: unknown, @Ctx() ctx: ZmqContext) {
    const active = trace.getActiveSpan();
    return { v, metadata: ctx.getMetadata(), activeSpanId: active?.spanContext().spanId ?? null };
  }

  // Explicit <string>: Nest 12's typed EventPattern overload rejects a typed @Ctx() parameter.
  @EventPattern<string>('audit')
  audit(@Payload() v: unknown, @Ctx() ctx: ZmqContext) {
    probe.hit('audit', { v, metadata: ctx.getMetadata(), activeSpanId: trace.getActiveSpan()?.spanContext().spanId });
  }

  @MessagePattern('fail')
  fail() {
    throw new RpcException({ code: 'E_TRACE', message: 'traced failure' });
  }

  @MessagePattern('ticks')
  ticks() {
    return new Observable<number>(o => {
      const timer = setInterval(() => o.next(1), 1);
      return () => {
        clearInterval(timer);
        probe.hit('ticks-teardown');
      };
    });
  }
}

type Echo = { v: unknown; metadata: Record<string, string> | null; activeSpanId: string | null };

describe('tracing', () => {
  const h = new Harness();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const manager = new AsyncLocalStorageContextManager().enable();

  beforeAll(() => {
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterEach(async () => {
    await h.closeAll();
    trace.disable();
    exporter.reset();
  });
  afterAll(async () => {
    context.disable();
    propagation.disable();
    await provider.shutdown();
  });

  async function start() {
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [TracedController],
      options: { id: 'trace-srv', introspection: true },
    });
    const client = await h.connectClient(endpoint, { id: 'trace-cli' });
    return { client };
  }

  const spans = () => exporter.getFinishedSpans();
  const byKind = (kind: SpanKind) => spans().filter(s => s.kind === kind);

  it('without a tracer provider: no span, and nothing added to the request metadata', async () => {
    const { client } = await start();
    const reply = await firstValueFrom(client.send<Echo>('echo', 1));
    expect(reply.metadata).toBeNull();
    expect(reply.activeSpanId).toBeNull();
    expect(spans()).toEqual([]);
  });

  it('[C-10] a client span per request and a server span per handler, linked through traceparent, with attributes', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    const tracer = trace.getTracer('test');
    const reply = await tracer.startActiveSpan('parent', async parent => {
      try {
        return await firstValueFrom(client.send<Echo>('echo', 1));
      } finally {
        parent.end();
      }
    });
    const [clientSpan] = byKind(SpanKind.CLIENT);
    const [serverSpan] = byKind(SpanKind.SERVER);
    const parent = spans().find(s => s.name === 'parent')!;
    expect(clientSpan).toBeDefined();
    expect(serverSpan).toBeDefined();
    // One trace: parent -> client span -> server span.
    expect(clientSpan!.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(clientSpan!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(serverSpan!.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(serverSpan!.parentSpanContext?.spanId).toBe(clientSpan!.spanContext().spanId);
    expect(serverSpan!.parentSpanContext?.isRemote).toBe(true);
    expect(clientSpan!.name).toBe('echo');
    expect(serverSpan!.name).toBe('echo');
    expect(clientSpan!.attributes).toMatchObject({
      'rpc.system': 'nestjs-zeromq',
      'rpc.method': 'echo',
      'zmq.pattern': 'echo',
      'zmq.peer_id': 'trace-srv',
      'zmq.outcome': 'ok',
    });
    expect(serverSpan!.attributes).toMatchObject({
      'zmq.pattern': 'echo',
      'zmq.peer_id': 'trace-cli',
      'zmq.outcome': 'ok',
    });
    // The handler ran inside the server span.
    expect(reply.activeSpanId).toBe(serverSpan!.spanContext().spanId);
    // The metadata is W3C trace context: the standard propagator reads it back as the client span.
    expect(reply.metadata!.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const extracted = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, reply.metadata));
    expect(extracted).toMatchObject({
      traceId: clientSpan!.spanContext().traceId,
      spanId: clientSpan!.spanContext().spanId,
    });
  });

  it('[S-17] a traceparent the server cannot parse is treated as absent: the call proceeds, its span has no parent', async () => {
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [TracedController],
      options: { id: 'trace-srv', introspection: true },
    });
    trace.setGlobalTracerProvider(provider);
    const dealer = h.track(new Dealer({ linger: 0, receiveTimeout: 5000 }));
    dealer.connect(endpoint);
    await dealer.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload('raw-tracer')]);
    const [welcome] = await dealer.receive();
    expect(welcome![1]).toBe(T.WELCOME);
    const meta = JSON.stringify({ traceparent: 'garbage', tracestate: 'congo=t61rcWkgMzE' });
    await dealer.send([header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'echo', meta }), json(1)]);
    const [head, body] = await dealer.receive();
    expect([head![1], head!.readUInt32BE(4)]).toEqual([T.CHUNK, 1]);
    const reply = JSON.parse(body!.toString()) as Echo;
    expect(reply.metadata).toMatchObject({ traceparent: 'garbage' });
    const [serverSpan] = byKind(SpanKind.SERVER);
    expect(serverSpan).toBeDefined();
    expect(serverSpan!.parentSpanContext).toBeUndefined();
    expect(reply.activeSpanId).toBe(serverSpan!.spanContext().spanId);
  });

  it('[C-10] tracestate travels with traceparent', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
      traceState: createTraceState('vendor=abc'),
    });
    const reply = await context.with(remote, () => firstValueFrom(client.send<Echo>('echo', 1)));
    expect(reply.metadata!.tracestate).toBe('vendor=abc');
    const [serverSpan] = byKind(SpanKind.SERVER);
    expect(serverSpan!.spanContext().traceState?.get('vendor')).toBe('abc');
    expect(serverSpan!.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  });

  it('a failed call ends both spans with status ERROR, outcome error and the code', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    const err = await rejectionOf(firstValueFrom(client.send('fail', {})));
    expect(err).toMatchObject({ code: 'E_TRACE' });
    for (const span of [byKind(SpanKind.CLIENT)[0], byKind(SpanKind.SERVER)[0]]) {
      expect(span).toBeDefined();
      expect(span!.status.code).toBe(SpanStatusCode.ERROR);
      expect(span!.attributes).toMatchObject({ 'zmq.outcome': 'error', 'zmq.error_code': 'E_TRACE' });
    }
  });

  it('a stream the caller leaves ends both spans as cancelled', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    await firstValueFrom(client.send('ticks', {}));
    await probe.wait('ticks-teardown');
    const clientSpan = byKind(SpanKind.CLIENT)[0];
    expect(clientSpan?.attributes['zmq.outcome']).toBe('cancelled');
    const serverSpan = byKind(SpanKind.SERVER)[0];
    expect(serverSpan?.attributes['zmq.outcome']).toBe('cancelled');
  });

  it('the packet metadata of a Nest 12 dispatch hook travels beside the trace context', async () => {
    const { client } = await start();
    if (!hasDispatchHook(client)) return; // Nest 11 has no packet metadata: the trace keys alone (test above)
    trace.setGlobalTracerProvider(provider);
    (client as any).setOnDispatchHook((p: { metadata?: Record<string, string> }) => {
      p.metadata = { tenant: 't-1', traceparent: 'the application value', tracestate: 'app=1' };
    });
    const reply = await firstValueFrom(client.send<Echo>('echo', 1));
    // The client span's context replaces the application's own trace keys (tracestate: absent when empty).
    expect(reply.metadata).toMatchObject({ tenant: 't-1', traceparent: expect.stringMatching(/^00-/) });
    expect(reply.metadata!.tracestate).toBeUndefined();
  });

  it('an event: a PRODUCER span on the client, a CONSUMER span around its handler, linked', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    client.emit('audit', 7);
    const seen = await probe.wait<{ metadata: Record<string, string>; activeSpanId: string }>('audit');
    const producer = byKind(SpanKind.PRODUCER)[0];
    expect(producer).toBeDefined();
    expect(producer!.name).toBe('send audit');
    expect(producer!.attributes).toMatchObject({
      'zmq.pattern': 'audit',
      'zmq.peer_id': 'trace-srv',
      'zmq.outcome': 'ok',
    });
    expect(seen.metadata.traceparent).toBe(
      `00-${producer!.spanContext().traceId}-${producer!.spanContext().spanId}-01`,
    );
    // The consumer span ends once the handler has settled: wait for it (bounded, event-driven on the exporter).
    for (let i = 0; i < 100 && byKind(SpanKind.CONSUMER).length === 0; i++) await new Promise(r => setImmediate(r));
    const consumer = byKind(SpanKind.CONSUMER)[0];
    expect(consumer).toBeDefined();
    expect(consumer!.name).toBe('process audit');
    expect(consumer!.parentSpanContext?.spanId).toBe(producer!.spanContext().spanId);
    expect(consumer!.attributes).toMatchObject({ 'zmq.peer_id': 'trace-cli', 'zmq.outcome': 'ok' });
    expect(consumer!.attributes['zmq.request_id']).toBeUndefined();
    expect(seen.activeSpanId).toBe(consumer!.spanContext().spanId);
  });

  it('an event that cannot go out (NO_PEER) ends its producer span with error', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    const err = await rejectionOf(firstValueFrom(client.emit('nobody-handles-this', 1)));
    expect(err).toMatchObject({ code: 'NO_PEER' });
    const producer = byKind(SpanKind.PRODUCER)[0];
    expect(producer?.status.code).toBe(SpanStatusCode.ERROR);
    expect(producer?.attributes).toMatchObject({ 'zmq.outcome': 'error', 'zmq.error_code': 'NO_PEER' });
  });

  it('reserved $zmq/ requests are not traced', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    await firstValueFrom(client.send(ZMQ_METRICS_PATTERN, {}));
    expect(spans()).toEqual([]);
  });

  it('a stream completes with outcome ok on both sides', async () => {
    const { client } = await start();
    trace.setGlobalTracerProvider(provider);
    expect(await lastValueFrom(client.send('echo', 2).pipe(toArray()))).toHaveLength(1);
    const kinds = spans().map((s: ReadableSpan) => [s.kind, s.attributes['zmq.outcome']]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        [SpanKind.CLIENT, 'ok'],
        [SpanKind.SERVER, 'ok'],
      ]),
    );
  });

  it('without @opentelemetry/api installed: requests work, carry no trace metadata, nothing is loaded', async () => {
    const result = await runTsChild('test/fixtures/no-otel.ts');
    const detail = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    expect({ code: result.code, detail }).toEqual({ code: 0, detail });
    const line = result.stdout.split('\n').find(l => l.startsWith('RESULT '));
    expect(JSON.parse(line!.slice('RESULT '.length))).toEqual({ metadata: null, loaded: 0, triedToLoad: true });
  }, 60_000);
});
