/**
 * ClientZmq lifecycle against real Nest apps: requestTimeout and late
 * replies, close() with calls pending, connect() after close(), and
 * connectTimeout when nothing listens.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, NEVER } from 'rxjs';
import { ClientZmq, ServerZmq, ZmqClosedError, ZmqConnectRefusedError, ZmqTimeoutError } from 'nestjs-zeromq';
import { Probe, rejectionOf } from '../helpers/async';
import { deadTcpEndpoint, Harness } from '../helpers/nest';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';

const probe = new Probe();

@Controller()
class SlowController {
  @MessagePattern('echo')
  echo(@Payload() v: unknown) {
    return v;
  }

  /** Never answers. */
  @MessagePattern('never')
  never(@Payload() tag: string) {
    probe.hit(`never:${tag}`);
    return new Promise(() => undefined);
  }

  /** A stream that never emits. */
  @MessagePattern('silent')
  silent() {
    return NEVER;
  }

  /** Answers once the test opens the gate. */
  @MessagePattern('late')
  async late(@Payload() tag: string) {
    probe.hit(`late:start:${tag}`);
    await probe.gate(`late:${tag}`);
    probe.hit(`late:answered:${tag}`);
    return `late ${tag}`;
  }
}

describe.each(TRANSPORTS)('over %s', kind => {
  const h = new Harness();
  let server: ServerZmq;
  let endpoint: string;

  beforeAll(async () => {
    ({ server, endpoint } = await h.startServer({ bind: bindEndpoint(kind, h.dirs), controllers: [SlowController] }));
  });
  afterAll(() => h.closeAll());
  beforeEach(() => probe.reset());

  describe('requestTimeout', () => {
    const clients = new Harness();
    afterEach(() => clients.closeAll());

    /**
     * A round trip on the same connection, behind the CANCEL the timeout sent.
     * Its own 200 ms timeout can pass on a loaded machine: a TIMEOUT is tried
     * again (at most 5 times); any other failure fails the test.
     */
    async function roundTrip(client: ClientZmq, value: number): Promise<unknown> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await firstValueFrom(client.send('echo', value));
        } catch (err) {
          if (attempt >= 5 || (err as { code?: string }).code !== 'TIMEOUT') throw err;
        }
      }
    }

    test('a handler that never answers fails with TIMEOUT and frees the call on both sides', async () => {
      const client = await clients.connectClient(endpoint, { requestTimeout: 200 });
      const err = await rejectionOf(firstValueFrom(client.send('never', 't1')));
      expect(err).toBeInstanceOf(ZmqTimeoutError);
      expect(err.code).toBe('TIMEOUT');
      expect(client.getStats().inFlight).toBe(0);
      // The client cancelled the call: once a later round trip is through, the server holds none.
      await expect(roundTrip(client, 1)).resolves.toBe(1);
      expect(server.getStats().inFlight).toBe(0);
    });

    test('a stream that never emits (NEVER) fails with TIMEOUT too', async () => {
      const client = await clients.connectClient(endpoint, { requestTimeout: 200 });
      const err = await rejectionOf(firstValueFrom(client.send('silent', 1)));
      expect(err).toBeInstanceOf(ZmqTimeoutError);
      expect(err.code).toBe('TIMEOUT');
      expect(client.getStats().inFlight).toBe(0);
      await expect(roundTrip(client, 2)).resolves.toBe(2);
      expect(server.getStats().inFlight).toBe(0);
    });

    test('a reply that comes after the timeout is ignored and counted as lateReply', async () => {
      const client = await clients.connectClient(endpoint, { requestTimeout: 200 });
      const seen: unknown[] = [];
      const call = rejectionOf(
        new Promise((resolve, reject) => {
          client
            .send('late', 'l1')
            .subscribe({ next: v => seen.push(v), error: reject, complete: () => resolve(seen) });
        }),
      );
      await probe.wait('late:start:l1');
      const err = await call;
      expect(err.code).toBe('TIMEOUT');
      expect(client.getStats().dropped.lateReply).toBe(0);
      // Answer now. The reply leaves the server before it reads the client's
      // cancel (both happen before the event loop polls the socket again).
      probe.open('late:l1');
      await probe.wait('late:answered:l1');
      // Replies on one connection arrive in order: once this round trip is
      // through, the late reply has been received.
      await expect(firstValueFrom(client.send('echo', 3))).resolves.toBe(3);
      expect(client.getStats().dropped.lateReply).toBe(1);
      expect(seen).toEqual([]);
      expect(client.getStats().inFlight).toBe(0);
    });
  });

  describe('close() and connect()', () => {
    const clients = new Harness();
    afterEach(() => clients.closeAll());

    test('close() fails every pending call with CLOSED; connect() afterwards works again', async () => {
      const client = await clients.connectClient(endpoint, { id: `e2e-close-${kind}` });
      const pending = ['a', 'b', 'c'].map(tag => rejectionOf(firstValueFrom(client.send('never', tag))));
      await Promise.all(['a', 'b', 'c'].map(tag => probe.wait(`never:${tag}`)));
      expect(client.getStats().inFlight).toBe(3);
      await client.close();
      const errors = await Promise.all(pending);
      for (const err of errors) {
        expect(err).toBeInstanceOf(ZmqClosedError);
        expect(err.code).toBe('CLOSED');
      }
      expect(client.getStats().inFlight).toBe(0);

      await client.connect();
      await expect(firstValueFrom(client.send('echo', 'again'))).resolves.toBe('again');
      expect(client.getStats().peers).toBe(1);
    });

    test('client.status emits connected after connect() and disconnected after close()', async () => {
      const client = clients.track(new ClientZmq({ connect: endpoint }));
      const statuses: string[] = [];
      const sub = client.status.subscribe(s => statuses.push(s));
      try {
        await client.connect();
        expect(statuses).toEqual(['connected']);
        await client.close();
        expect(statuses).toEqual(['connected', 'disconnected']);
      } finally {
        sub.unsubscribe();
      }
    });

    test('send() after close() reconnects on its own (Nest calls connect() first)', async () => {
      const client = await clients.connectClient(endpoint);
      await expect(firstValueFrom(client.send('echo', 1))).resolves.toBe(1);
      await client.close();
      await expect(firstValueFrom(client.send('echo', 2))).resolves.toBe(2);
    });
  });
});

describe('nothing listens at the endpoint', () => {
  const clients = new Harness();
  afterEach(() => clients.closeAll());

  test('connect() rejects with CONNECT_REFUSED naming the endpoint', async () => {
    const dead = await deadTcpEndpoint();
    const client = clients.track(new ClientZmq({ connect: dead, connectTimeout: 300 }));
    const err = await rejectionOf(client.connect());
    expect(err).toBeInstanceOf(ZmqConnectRefusedError);
    expect(err.code).toBe('CONNECT_REFUSED');
    expect(err.message).toContain(dead);
  });

  test('send() on such a client errors with CONNECT_REFUSED (an observable error, no unhandled rejection)', async () => {
    const dead = await deadTcpEndpoint();
    const client = clients.track(new ClientZmq({ connect: dead, connectTimeout: 300 }));
    const err = await rejectionOf(firstValueFrom(client.send('echo', 1)));
    expect(err).toBeInstanceOf(ZmqConnectRefusedError);
    expect(err.code).toBe('CONNECT_REFUSED');
    expect(client.getStats().inFlight).toBe(0);
  });

  test('an ipc endpoint with no socket file behaves the same', async () => {
    const dir = clients.dirs.make();
    const client = clients.track(new ClientZmq({ connect: `ipc://${dir}/none.sock`, connectTimeout: 300 }));
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe('CONNECT_REFUSED');
    expect(err.message).toContain(`nothing listens at ipc://${dir}/none.sock (no such socket file)`.replace(/^n/, 'N'));
  });
});
