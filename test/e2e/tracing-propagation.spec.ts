/**
 * Tracing through the OpenTelemetry propagation API, over real sockets: the
 * propagator the application registers decides what goes into the metadata
 * (here a B3 single-header propagator composed with W3C baggage), and spans
 * carry the semantic conventions' attributes (RPC spans for requests,
 * messaging spans for events).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import {
  Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  TextMapGetter,
  TextMapPropagator,
  TextMapSetter,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { firstValueFrom } from 'rxjs';
import { ZmqContext } from 'nestjs-zeromq';
import { Probe } from '../helpers/async';
import { Harness } from '../helpers/nest';

/** B3 single header (`b3: {traceId}-{spanId}-{sampled}`), written here: no B3 package is installed. */
class B3SinglePropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (sc === undefined || !isSpanContextValid(sc)) return;
    setter.set(carrier, 'b3', `${sc.traceId}-${sc.spanId}-${sc.traceFlags & TraceFlags.SAMPLED ? '1' : '0'}`);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const value = getter.get(carrier, 'b3');
    const header = Array.isArray(value) ? value[0] : value;
    const match = header === undefined ? null : /^([0-9a-f]{32})-([0-9a-f]{16})-([01])$/.exec(header);
    if (match === null) return ctx;
    return trace.setSpanContext(ctx, {
      traceId: match[1]!,
      spanId: match[2]!,
      traceFlags: match[3] === '1' ? TraceFlags.SAMPLED : TraceFlags.NONE,
      isRemote: true,
    });
  }

  fields(): string[] {
    return ['b3'];
  }
}

const probe = new Probe();

@Controller()
class MathController {
  @MessagePattern('math.sum')
  sum(@Payload() values: number[], @Ctx() ctx: ZmqContext) {
    return {
      total: values.reduce((a, b) => a + b, 0),
      metadata: ctx.getMetadata(),
      tenant: propagation.getBaggage(context.active())?.getEntry('tenant')?.value ?? null,
    };
  }

  @EventPattern('user.created')
  created(@Payload() id: number) {
    probe.hit('user.created', id);
  }
}

type Sum = { total: number; metadata: Record<string, string> | null; tenant: string | null };

describe('tracing through the registered propagator', () => {
  const h = new Harness();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new B3SinglePropagator(), new W3CBaggagePropagator()] }),
    );
    trace.setGlobalTracerProvider(provider);
  });
  afterEach(async () => {
    await h.closeAll();
    exporter.reset();
  });
  afterAll(async () => {
    trace.disable();
    context.disable();
    propagation.disable();
    await provider.shutdown();
  });

  async function start() {
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [MathController],
      options: { id: 'math-srv' },
    });
    const client = await h.connectClient(endpoint, { id: 'gateway' });
    return { client, endpoint };
  }

  const byKind = (kind: SpanKind) => exporter.getFinishedSpans().filter(s => s.kind === kind);

  it('B3 and baggage travel in the metadata; no traceparent is written; the server joins the trace', async () => {
    const { client } = await start();
    const baggage = propagation.createBaggage({ tenant: { value: 't-42' } });
    const reply = await context.with(propagation.setBaggage(ROOT_CONTEXT, baggage), () =>
      firstValueFrom(client.send<Sum>('math.sum', [1, 2])),
    );
    expect(reply.total).toBe(3);
    const [clientSpan] = byKind(SpanKind.CLIENT);
    const [serverSpan] = byKind(SpanKind.SERVER);
    const sc = clientSpan!.spanContext();
    expect(reply.metadata).toEqual({ b3: `${sc.traceId}-${sc.spanId}-1`, baggage: 'tenant=t-42' });
    expect(reply.tenant).toBe('t-42');
    expect(serverSpan!.spanContext().traceId).toBe(sc.traceId);
    expect(serverSpan!.parentSpanContext?.spanId).toBe(sc.spanId);
  });

  it('request spans are RPC spans: rpc.system, rpc.service / rpc.method, server.address / port, network.peer.*', async () => {
    const { client, endpoint } = await start();
    await firstValueFrom(client.send<Sum>('math.sum', [1]));
    const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
    const [clientSpan] = byKind(SpanKind.CLIENT);
    const [serverSpan] = byKind(SpanKind.SERVER);
    expect(clientSpan!.name).toBe('math/sum');
    expect(clientSpan!.attributes).toMatchObject({
      'rpc.system': 'nestjs-zeromq',
      'rpc.service': 'math',
      'rpc.method': 'sum',
      'server.address': '127.0.0.1',
      'server.port': port,
      'network.peer.address': '127.0.0.1',
      'network.peer.port': port,
      'network.transport': 'tcp',
      'zmq.pattern': 'math.sum',
      'zmq.peer_id': 'math-srv',
    });
    expect(serverSpan!.name).toBe('math/sum');
    expect(serverSpan!.attributes).toMatchObject({
      'rpc.system': 'nestjs-zeromq',
      'rpc.service': 'math',
      'rpc.method': 'sum',
      'zmq.peer_id': 'gateway',
    });
    expect(clientSpan!.attributes['messaging.system']).toBeUndefined();
  });

  it('event spans are messaging spans: messaging.system, destination, operation; no rpc.*', async () => {
    const { client } = await start();
    client.emit('user.created', 7);
    await probe.wait('user.created');
    for (let i = 0; i < 100 && byKind(SpanKind.CONSUMER).length === 0; i++) await new Promise(r => setImmediate(r));
    const [producer] = byKind(SpanKind.PRODUCER);
    const [consumer] = byKind(SpanKind.CONSUMER);
    expect(producer!.name).toBe('send user.created');
    expect(producer!.attributes).toMatchObject({
      'messaging.system': 'nestjs-zeromq',
      'messaging.destination.name': 'user.created',
      'messaging.operation.type': 'send',
    });
    expect(consumer!.name).toBe('process user.created');
    expect(consumer!.attributes).toMatchObject({
      'messaging.system': 'nestjs-zeromq',
      'messaging.destination.name': 'user.created',
      'messaging.operation.type': 'process',
    });
    expect(consumer!.parentSpanContext?.spanId).toBe(producer!.spanContext().spanId);
    expect(producer!.attributes['rpc.system']).toBeUndefined();
  });

  it('a failed call (NO_PEER: no server serves it) records error.type with the code', async () => {
    const { client } = await start();
    await firstValueFrom(client.send('math.nothing', 1)).catch(() => undefined);
    const [clientSpan] = byKind(SpanKind.CLIENT);
    expect(clientSpan!.attributes).toMatchObject({ 'error.type': 'NO_PEER', 'zmq.error_code': 'NO_PEER' });
  });
});
