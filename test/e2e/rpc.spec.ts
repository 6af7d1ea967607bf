/**
 * Request/reply, streams, cancel, remote errors, events, transportId and
 * ZmqContext over real Nest apps, on every transport (tcp, ipc, inproc).
 */
import 'reflect-metadata';
import { Controller, Inject, Injectable } from '@nestjs/common';
import {
  ClientProxy,
  ClientsModule,
  Ctx,
  EventPattern,
  MessagePattern,
  Payload,
  RpcException,
} from '@nestjs/microservices';
import { Test, TestingModule } from '@nestjs/testing';
import {
  concat,
  finalize,
  firstValueFrom,
  from,
  interval,
  lastValueFrom,
  of,
  take,
  tap,
  throwError,
  toArray,
} from 'rxjs';
import { ClientZmq, ServerZmq, ZMQ_TRANSPORT, ZmqContext, ZmqNoPeerError, ZmqRemoteError } from 'nestjs-zeromq';
import { Probe, rejectionOf } from '../helpers/async';
import { Harness, hasDispatchHook, silentLogger } from '../helpers/nest';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';

const probe = new Probe();
const OTHER_TRANSPORT = Symbol('OTHER_TRANSPORT');

function ctxInfo(ctx: ZmqContext) {
  return {
    pattern: ctx.getPattern(),
    peerId: ctx.getPeerId(),
    requestId: ctx.getRequestId(),
    metadata: ctx.getMetadata(),
  };
}

@Controller()
class MathController {
  @MessagePattern('sum')
  sum(@Payload() n: number[]) {
    return n.reduce((a, b) => a + b, 0);
  }

  @MessagePattern({ cmd: 'count', v: 1 })
  count(@Payload() n: number) {
    return n * 10;
  }

  @MessagePattern('asyncSum')
  async asyncSum(@Payload() n: number[]) {
    await Promise.resolve();
    return n.reduce((a, b) => a + b, 0) + 100;
  }

  @MessagePattern('promiseSum')
  promiseSum(@Payload() n: number[]): Promise<number> {
    return new Promise(resolve => setImmediate(() => resolve(n.reduce((a, b) => a + b, 0) + 1000)));
  }

  @MessagePattern('nothing')
  nothing() {
    probe.hit('nothing');
    return undefined;
  }

  @MessagePattern('ticks')
  ticks() {
    return interval(10).pipe(take(5));
  }

  @MessagePattern('thousand')
  thousand() {
    return from(Array.from({ length: 1000 }, (_, i) => i + 1));
  }

  @MessagePattern('brokenStream')
  brokenStream() {
    return concat(
      of(1, 2, 3),
      throwError(() => new RpcException({ code: 'E_MID', message: 'mid-stream' })),
    );
  }

  @MessagePattern('endless')
  endless(@Payload() tag: string) {
    probe.hit(`endless:start:${tag}`);
    return interval(10).pipe(
      tap(v => probe.hit(`endless:value:${tag}`, v)),
      finalize(() => probe.hit(`endless:teardown:${tag}`)),
    );
  }

  @MessagePattern('rpcObject')
  rpcObject() {
    throw new RpcException({ code: 'E_BAD', message: 'bad', status: 'x' });
  }

  @MessagePattern('rpcString')
  rpcString() {
    throw new RpcException('text');
  }

  @MessagePattern('plainError')
  plainError() {
    throw new Error('secret detail');
  }

  @MessagePattern('ctx')
  ctx(@Payload() _data: unknown, @Ctx() ctx: ZmqContext) {
    return ctxInfo(ctx);
  }

  // Explicit <string>: Nest 12's typed EventPattern overload rejects a typed @Ctx() parameter.
  @EventPattern<string>('ctx:event')
  ctxEvent(@Payload() tag: string, @Ctx() ctx: ZmqContext) {
    probe.hit(`ctx:event:${tag}`, ctxInfo(ctx));
  }

  @MessagePattern('zmqOnly', ZMQ_TRANSPORT)
  zmqOnly() {
    return 'zmq';
  }

  @MessagePattern('otherOnly', OTHER_TRANSPORT)
  otherOnly() {
    probe.hit('otherOnly');
    return 'other';
  }

  @EventPattern('audit')
  audit(@Payload() data: unknown) {
    probe.hit('audit:first', data);
  }
}

@Controller()
class AuditMirrorController {
  @EventPattern('audit')
  audit(@Payload() data: unknown) {
    probe.hit('audit:second', data);
  }
}

@Injectable()
class MathCaller {
  constructor(@Inject('MATH') readonly client: ClientProxy) {}

  sum(values: number[]): Promise<number> {
    return firstValueFrom(this.client.send<number>('sum', values));
  }
}

describe.each(TRANSPORTS)('over %s', kind => {
  const h = new Harness();
  let server: ServerZmq;
  let endpoint: string;
  let client: ClientZmq;
  const clientId = `e2e-rpc-${kind}`;

  beforeAll(async () => {
    ({ server, endpoint } = await h.startServer({
      bind: bindEndpoint(kind, h.dirs),
      controllers: [MathController, AuditMirrorController],
    }));
    client = await h.connectClient(endpoint, { id: clientId });
  });
  afterAll(() => h.closeAll());
  beforeEach(() => probe.reset());

  describe('request/reply', () => {
    test('string pattern: sum([1,2,3]) is 6', async () => {
      await expect(firstValueFrom(client.send('sum', [1, 2, 3]))).resolves.toBe(6);
    });

    test('object pattern is normalized (key order does not matter)', async () => {
      await expect(firstValueFrom(client.send({ v: 1, cmd: 'count' }, 4))).resolves.toBe(40);
      await expect(firstValueFrom(client.send({ cmd: 'count', v: 1 }, 5))).resolves.toBe(50);
    });

    test('async handler', async () => {
      await expect(firstValueFrom(client.send('asyncSum', [1, 2]))).resolves.toBe(103);
    });

    test('handler returning a Promise', async () => {
      await expect(firstValueFrom(client.send('promiseSum', [1, 2]))).resolves.toBe(1003);
    });

    test('handler returning undefined: the client completes without a value', async () => {
      const values = await lastValueFrom(client.send('nothing', 1).pipe(toArray()));
      expect(values).toEqual([]);
      expect(probe.count('nothing')).toBe(1);
    });

    test('a client from ClientsModule.register({ customClass: ClientZmq }) injected into a provider', async () => {
      const mod: TestingModule = await Test.createTestingModule({
        imports: [
          ClientsModule.register([
            { name: 'MATH', customClass: ClientZmq, options: { connect: endpoint, id: `${clientId}-di` } },
          ]),
        ],
        providers: [MathCaller],
      })
        .setLogger(silentLogger)
        .compile();
      const caller = mod.get(MathCaller);
      try {
        expect(caller.client).toBeInstanceOf(ClientZmq);
        await expect(caller.sum([1, 2, 3])).resolves.toBe(6);
        expect((caller.client as ClientZmq).getStats().peers).toBe(1);
      } finally {
        await mod.close();
      }
      // ClientsModule wires close() as onApplicationShutdown.
      expect((caller.client as ClientZmq).getStats().peers).toBe(0);
    });
  });

  describe('streams', () => {
    test('interval(10).pipe(take(5)) arrives as 0..4 in order, then completes', async () => {
      await expect(lastValueFrom(client.send('ticks', 1).pipe(toArray()))).resolves.toEqual([0, 1, 2, 3, 4]);
    });

    test('from([1..1000]) arrives complete and in order', async () => {
      const values = await lastValueFrom(client.send<number>('thousand', 1).pipe(toArray()));
      expect(values).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    });

    test('a stream that errors mid-way delivers the items before the error, then the error', async () => {
      const seen: number[] = [];
      const err = await rejectionOf(lastValueFrom(client.send<number>('brokenStream', 1).pipe(tap(v => seen.push(v)))));
      expect(seen).toEqual([1, 2, 3]);
      expect(err).toBeInstanceOf(ZmqRemoteError);
      expect(err).toMatchObject({ code: 'E_MID', message: 'mid-stream' });
    });
  });

  describe('cancel', () => {
    test('unsubscribing stops the server-side stream and frees the call', async () => {
      const values = await lastValueFrom(client.send<number>('endless', 'c1').pipe(take(2), toArray()));
      expect(values).toEqual([0, 1]);
      // The server ran the Observable's teardown because the client unsubscribed.
      await probe.wait('endless:teardown:c1');
      expect(server.getStats().inFlight).toBe(0);
      expect(client.getStats().inFlight).toBe(0);
      // Nothing more is produced or delivered: a round trip on the same
      // connection flushes whatever the server sent before it, so the
      // late-reply counter settles; a second round trip must not move it.
      await firstValueFrom(client.send('sum', [1]));
      const produced = probe.count('endless:value:c1');
      const late = client.getStats().dropped.lateReply;
      await firstValueFrom(client.send('sum', [2]));
      await firstValueFrom(client.send('sum', [3]));
      expect(probe.count('endless:value:c1')).toBe(produced);
      expect(client.getStats().dropped.lateReply).toBe(late);
    });

    test('unsubscribing by hand before any value also tears the handler down', async () => {
      const sub = client.send('endless', 'c2').subscribe();
      await probe.wait('endless:start:c2');
      sub.unsubscribe();
      await probe.wait('endless:teardown:c2');
      // A later request round trip proves the server is in a clean state.
      await expect(firstValueFrom(client.send('sum', [2, 2]))).resolves.toBe(4);
      expect(server.getStats().inFlight).toBe(0);
      expect(client.getStats().inFlight).toBe(0);
    });
  });

  describe('errors', () => {
    test('RpcException({code, message, status}) arrives as a ZmqRemoteError with every field', async () => {
      const err = await rejectionOf(firstValueFrom(client.send('rpcObject', 1)));
      expect(err).toBeInstanceOf(Error);
      expect(err).toBeInstanceOf(ZmqRemoteError);
      expect(err.message).toBe('bad');
      expect(err.code).toBe('E_BAD');
      expect(err.status).toBe('x');
      expect(err.error).toEqual({ code: 'E_BAD', message: 'bad', status: 'x' });
    });

    test("RpcException('text') arrives with that message and Nest's error status", async () => {
      const err = await rejectionOf(firstValueFrom(client.send('rpcString', 1)));
      expect(err).toBeInstanceOf(ZmqRemoteError);
      expect(err.message).toBe('text');
      expect(err.status).toBe('error');
      expect(err.code).toBe('REMOTE_ERROR');
      expect(err.error).toEqual({ status: 'error', message: 'text' });
    });

    test('any other thrown error is masked as Internal server error', async () => {
      const err = await rejectionOf(firstValueFrom(client.send('plainError', 1)));
      expect(err).toBeInstanceOf(ZmqRemoteError);
      expect(err.message).toBe('Internal server error');
      expect(err.status).toBe('error');
      expect(err.error).toEqual({ status: 'error', message: 'Internal server error' });
      expect(JSON.stringify(err.error)).not.toContain('secret detail');
    });

    test('a pattern no server serves fails at once with NO_PEER naming the pattern (the welcome lists the patterns)', async () => {
      const err = await rejectionOf(firstValueFrom(client.send('no.such.pattern', 1)));
      expect(err).toBeInstanceOf(ZmqNoPeerError);
      expect(err.code).toBe('NO_PEER');
      expect(err.message).toContain('no.such.pattern');
      expect(client.getStats().inFlight).toBe(0);
      // The client stays usable.
      await expect(firstValueFrom(client.send('sum', [1, 1]))).resolves.toBe(2);
    });
  });

  describe('events', () => {
    test('emit() runs every @EventPattern handler of the event (two controllers), without a subscriber', async () => {
      // Not subscribed: emit is hot.
      client.emit('audit', { user: 'u1', n: 1 });
      await expect(probe.wait('audit:first')).resolves.toEqual({ user: 'u1', n: 1 });
      await expect(probe.wait('audit:second')).resolves.toEqual({ user: 'u1', n: 1 });
      expect(probe.count('audit:first')).toBe(1);
      expect(probe.count('audit:second')).toBe(1);
    });

    test('emit() completes without a value once sent; events are not requests', async () => {
      await expect(lastValueFrom(client.emit('audit', { n: 2 }).pipe(toArray()))).resolves.toEqual([undefined]);
      await probe.wait('audit:first');
      expect(server.getStats().inFlight).toBe(0);
    });
  });

  describe('transportId', () => {
    test('@MessagePattern(p, ZMQ_TRANSPORT) is served', async () => {
      await expect(firstValueFrom(client.send('zmqOnly', 1))).resolves.toBe('zmq');
    });

    test('a handler bound to another transport symbol is not served (not in the welcome: NO_PEER)', async () => {
      const err = await rejectionOf(firstValueFrom(client.send('otherOnly', 1)));
      expect(err.code).toBe('NO_PEER');
      expect(probe.count('otherOnly')).toBe(0);
    });
  });

  describe('ZmqContext', () => {
    test('requests: pattern, peer id (the client id option), a positive request id, null metadata', async () => {
      const info = await firstValueFrom(client.send('ctx', 1));
      expect(info.pattern).toBe('ctx');
      expect(info.peerId).toBe(clientId);
      expect(typeof info.requestId).toBe('number');
      expect(info.requestId).toBeGreaterThan(0);
      expect(info.metadata).toBeNull();
    });

    test('events: no request id, null metadata', async () => {
      client.emit('ctx:event', 'plain');
      const info = await probe.wait<any>('ctx:event:plain');
      expect(info).toEqual({ pattern: 'ctx:event', peerId: clientId, requestId: undefined, metadata: null });
    });

    test('metadata set by setOnDispatchHook (Nest 12) reaches requests and events; Nest 11 sends none', async () => {
      const hooked = await h.connectClient(endpoint, { id: `${clientId}-hook` });
      if (hasDispatchHook(hooked)) {
        (hooked as any).setOnDispatchHook((p: { metadata?: Record<string, string> }) => {
          p.metadata = { trace: 't1' };
        });
        const info = await firstValueFrom(hooked.send('ctx', 1));
        expect(info).toMatchObject({ peerId: `${clientId}-hook`, metadata: { trace: 't1' } });
        hooked.emit('ctx:event', 'hooked');
        await expect(probe.wait('ctx:event:hooked')).resolves.toMatchObject({
          metadata: { trace: 't1' },
          requestId: undefined,
        });
      } else {
        const info = await firstValueFrom(hooked.send('ctx', 1));
        expect(info).toMatchObject({ peerId: `${clientId}-hook`, metadata: null });
        hooked.emit('ctx:event', 'hooked');
        await expect(probe.wait('ctx:event:hooked')).resolves.toMatchObject({ metadata: null });
      }
    });
  });
});
