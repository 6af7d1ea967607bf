/**
 * ServerZmq lifecycle inside a Nest microservice: bind failures, several
 * endpoints, status, unwrap(), custom transportId, and what app.close() does
 * to handlers and open streams.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { finalize, firstValueFrom, interval, take, tap, toArray } from 'rxjs';
import { Router } from 'zeromq';
import { ClientZmq, defaults, ServerZmq, ZMQ_TRANSPORT, ZmqBindError } from 'nestjs-zeromq';
import { Probe, rejectionOf } from '../helpers/async';
import { Harness, silentLogger } from '../helpers/nest';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';

const probe = new Probe();
const CUSTOM_TRANSPORT = Symbol('CUSTOM_TRANSPORT');

@Controller()
class CounterController {
  @MessagePattern('hit')
  hit(@Payload() tag: string) {
    probe.hit('hit', tag);
    return probe.count('hit');
  }

  @MessagePattern('stream')
  stream(@Payload() tag: string) {
    return interval(10).pipe(
      tap(v => probe.hit(`stream:value:${tag}`, v)),
      finalize(() => probe.hit(`stream:teardown:${tag}`)),
    );
  }

  @MessagePattern('custom', CUSTOM_TRANSPORT)
  custom() {
    return 'custom';
  }

  @MessagePattern('zmq', ZMQ_TRANSPORT)
  zmq() {
    return 'zmq';
  }
}

const h = new Harness();
afterEach(() => h.closeAll());
beforeEach(() => probe.reset());

describe('listen', () => {
  test('binding a tcp port already in use rejects app.listen() with BIND_FAILED / EADDRINUSE', async () => {
    const first = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [CounterController] });
    const taken = first.endpoint;
    expect(taken).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);

    const module = await Test.createTestingModule({ controllers: [CounterController] })
      .setLogger(silentLogger)
      .compile();
    const server = new ServerZmq({ bind: taken });
    const statuses: string[] = [];
    const sub = server.status.subscribe(s => statuses.push(s));
    const app = h.track(module.createNestMicroservice({ strategy: server, logger: false }));
    try {
      const err = await rejectionOf(app.listen());
      expect(err).toBeInstanceOf(ZmqBindError);
      expect(err.code).toBe('BIND_FAILED');
      expect(err.reason).toBe('EADDRINUSE');
      expect(err.endpoint).toBe(taken);
      expect(statuses).toEqual(['disconnected']);
      expect(() => server.unwrap()).toThrow(/Not initialized/);
    } finally {
      sub.unsubscribe();
    }
    // The first server is unaffected.
    const client = await h.connectClient(taken);
    await expect(firstValueFrom(client.send('hit', 'x'))).resolves.toBe(1);
  });

  test('several endpoints at once (tcp + ipc + inproc) all serve', async () => {
    const binds = TRANSPORTS.map(kind => bindEndpoint(kind, h.dirs));
    const { server } = await h.startServer({ bind: binds, controllers: [CounterController] });
    const endpoints = server.endpoints;
    expect(endpoints).toHaveLength(3);
    expect(endpoints[0]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints[1]).toBe(binds[1]);
    expect(endpoints[2]).toBe(binds[2]);
    for (const [i, endpoint] of endpoints.entries()) {
      const client = await h.connectClient(endpoint);
      await expect(firstValueFrom(client.send('hit', endpoint))).resolves.toBe(i + 1);
    }
    expect(probe.all('hit')).toEqual(endpoints);
    expect(server.getStats().peers).toBe(3);
  });
});

describe.each(TRANSPORTS)('lifecycle over %s', kind => {
  test('status emits connected after listen and disconnected after close', async () => {
    const module = await Test.createTestingModule({ controllers: [CounterController] })
      .setLogger(silentLogger)
      .compile();
    const server = new ServerZmq({ bind: bindEndpoint(kind, h.dirs) });
    const statuses: string[] = [];
    const sub = server.status.subscribe(s => statuses.push(s));
    try {
      const app = h.track(module.createNestMicroservice({ strategy: server, logger: false }));
      expect(statuses).toEqual([]);
      await app.listen();
      expect(statuses).toEqual(['connected']);
      await app.close();
      expect(statuses).toEqual(['connected', 'disconnected']);
    } finally {
      sub.unsubscribe();
    }
  });

  test('unwrap() throws before listen and returns the zeromq Router after', async () => {
    const module = await Test.createTestingModule({ controllers: [CounterController] })
      .setLogger(silentLogger)
      .compile();
    const server = new ServerZmq({ bind: bindEndpoint(kind, h.dirs) });
    const app = h.track(module.createNestMicroservice({ strategy: server, logger: false }));
    expect(() => server.unwrap()).toThrow(/Not initialized/);
    await app.listen();
    const router = server.unwrap<Router>();
    expect(router).toBeInstanceOf(Router);
    expect(router.closed).toBe(false);
    await app.close();
    expect(router.closed).toBe(true);
    expect(() => server.unwrap()).toThrow(/Not initialized/);
  });

  test('app.close(): open streams are ended (teardown runs), the client learns it, and no handler runs after', async () => {
    // The streams never end by themselves: they end when the drain's timeout passes.
    const { app, server, endpoint } = await h.startServer({
      bind: bindEndpoint(kind, h.dirs),
      controllers: [CounterController],
      options: { drainTimeout: 200 },
    });
    const client = await h.connectClient(endpoint, { requestTimeout: 0 });
    await expect(firstValueFrom(client.send('hit', 'before'))).resolves.toBe(1);

    const streamed: number[] = [];
    const streamDone = rejectionOf(
      new Promise((resolve, reject) =>
        client
          .send<number>('stream', 's1')
          .subscribe({ next: v => streamed.push(v), error: reject, complete: () => resolve(streamed) }),
      ),
    );
    await probe.wait('stream:value:s1');
    expect(server.getStats().inFlight).toBe(1);

    await app.close();
    // The server unsubscribed the stream while closing.
    expect(probe.count('stream:teardown:s1')).toBe(1);
    const produced = probe.count('stream:value:s1');
    // The client is told (BYE) and fails the open call instead of waiting forever.
    const err = await streamDone;
    expect(err.code).toBe('PEER_LOST');
    expect(client.getStats().inFlight).toBe(0);

    // A request after close never reaches a handler: the client has no server left.
    const after = await rejectionOf(firstValueFrom(client.send('hit', 'after')));
    expect(after.code).toBe('NO_PEER');
    expect(probe.all('hit')).toEqual(['before']);
    expect(probe.count('stream:value:s1')).toBe(produced);
  });

  test('after app.close() a fresh client cannot reach any handler', async () => {
    const { app, endpoint } = await h.startServer({
      bind: bindEndpoint(kind, h.dirs),
      controllers: [CounterController],
    });
    await app.close();
    const client = h.track(new ClientZmq({ connect: endpoint, connectTimeout: 300 }));
    const err = await rejectionOf(firstValueFrom(client.send('hit', 'late')));
    // Nothing accepts connections there any more (the port is free, the ipc file removed); inproc is not probed.
    expect(err.code).toBe(kind === 'inproc' ? 'CONNECT_TIMEOUT' : 'CONNECT_REFUSED');
    expect(probe.count('hit')).toBe(0);
  });

  test('a server with its own transportId serves only the handlers bound to that symbol (or to none)', async () => {
    const { endpoint } = await h.startServer({
      bind: bindEndpoint(kind, h.dirs),
      controllers: [CounterController],
      options: { transportId: CUSTOM_TRANSPORT },
    });
    const client = await h.connectClient(endpoint);
    await expect(firstValueFrom(client.send('custom', 1))).resolves.toBe('custom');
    await expect(firstValueFrom(client.send('hit', 'unbound'))).resolves.toBe(1);
    // Not in the server's welcome: the client fails it at once.
    const err = await rejectionOf(firstValueFrom(client.send('zmq', 1)));
    expect(err.code).toBe('NO_PEER');
    expect(err.message).toContain('zmq');
  });
});

// Streams end for every subscriber at close, not only the first one.
test('app.close() ends several open streams of several clients', async () => {
  const { app, endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [CounterController],
    options: { drainTimeout: 200 }, // the streams never end by themselves
  });
  const clients = await Promise.all([h.connectClient(endpoint), h.connectClient(endpoint)]);
  const tags = ['a', 'b', 'c', 'd'];
  const done = tags.map((tag, i) =>
    rejectionOf(firstValueFrom(clients[i % 2]!.send('stream', tag).pipe(take(1000), toArray()))),
  );
  await Promise.all(tags.map(tag => probe.wait(`stream:value:${tag}`)));
  await app.close();
  for (const tag of tags) expect(probe.count(`stream:teardown:${tag}`)).toBe(1);
  for (const err of await Promise.all(done)) expect(err.code).toBe('PEER_LOST');
});

describe('the sendTimeout option', () => {
  it('is set on the ROUTER', async () => {
    const { server } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [CounterController],
      options: { sendTimeout: 5 },
    });
    expect(server.unwrap<Router>().sendTimeout).toBe(5);
  });

  it('defaults to defaults.DEFAULT_SEND_TIMEOUT', async () => {
    const { server } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [CounterController] });
    expect(server.unwrap<Router>().sendTimeout).toBe(defaults.DEFAULT_SEND_TIMEOUT);
  });

  it('a server with sendTimeout still serves a client', async () => {
    const { endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [CounterController],
      options: { sendTimeout: 5 },
    });
    const c = await h.connectClient(endpoint, { linger: 0 });
    expect(await firstValueFrom(c.send('hit', 'send-timeout'))).toBe(1);
  });
});
