/**
 * CURVE and the allow-list over real sockets: allowed keys work
 * over tcp and ipc and reach handlers as ctx.getPublicKey(); an unlisted key,
 * a wrong server key, a plaintext client and a CURVE client of a plaintext
 * server all fail connect() with a typed error and never reach a handler;
 * the function form; run-time removal and disconnect.
 */
import 'reflect-metadata';
import { CanActivate, Controller, ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import {
  ClientZmq,
  generateCurveKeyPair,
  ZmqContext,
  ZmqAllow,
  ZmqErrorCode,
  ZmqPeerEvent,
  ZmqPeerRefusedEvent,
} from 'nestjs-zeromq';
import { deferred, Probe, rejectionOf, within } from '../helpers/async';
import { Harness } from '../helpers/nest';
import { bindEndpoint, TransportKind } from '../helpers/transports';

const probe = new Probe();

@Controller()
class KeyController {
  @MessagePattern('whoami')
  whoami(@Payload() tag: string, @Ctx() ctx: ZmqContext) {
    probe.hit('whoami', tag);
    return { tag, publicKey: ctx.getPublicKey() ?? null };
  }

  @EventPattern<string>('note')
  note(@Payload() text: string, @Ctx() ctx: ZmqContext) {
    probe.hit('note', { text, publicKey: ctx.getPublicKey() });
  }
}

const serverPair = generateCurveKeyPair();
const alice = generateCurveKeyPair();
const bob = generateCurveKeyPair();

/** The README's guard: only the admin keys may call a pattern. */
const ADMIN_KEYS = new Set([alice.publicKey]);

@Injectable()
class AdminKeysGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const ctx = context.switchToRpc().getContext<ZmqContext>();
    if (ADMIN_KEYS.has(ctx.getPublicKey() ?? '')) return true;
    throw new RpcException({ code: 'E_FORBIDDEN', message: 'admins only' });
  }
}

@Controller()
class AdminController {
  @UseGuards(AdminKeysGuard)
  @MessagePattern('admin.flush')
  flush() {
    probe.hit('flush');
    return 'flushed';
  }
}

const h = new Harness();
afterEach(() => h.closeAll());
beforeEach(() => probe.reset());

async function curveServer(kind: TransportKind, allow: ZmqAllow) {
  const started = await h.startServer({
    bind: bindEndpoint(kind, h.dirs),
    controllers: [KeyController, AdminController],
    options: { curve: serverPair, allow },
  });
  return started;
}

function curveClient(endpoint: string, pair: { publicKey: string; secretKey: string } | undefined, extra = {}) {
  return h.track(
    new ClientZmq({
      connect: endpoint,
      connectTimeout: 3_000,
      heartbeatInterval: 100,
      curve: { serverKey: serverPair.publicKey, ...pair },
      ...extra,
    }),
  );
}

function nextEvent<T>(
  target: { on(event: any, fn: (e: T) => void): unknown },
  event: string,
  match?: (e: T) => boolean,
) {
  const d = deferred<T>();
  target.on(event, (e: T) => {
    if (match === undefined || match(e)) d.resolve(e);
  });
  return within(d.promise, 8_000, event);
}

describe.each<TransportKind>(['tcp', 'ipc'])('an allowed key over %s', kind => {
  test('reaches the handler, which sees the key; peer:joined and getPeers() carry it', async () => {
    const { server, endpoint } = await curveServer(kind, [alice.publicKey]);
    const joined = nextEvent<ZmqPeerEvent>(server, 'peer:joined');
    const client = curveClient(endpoint, alice);
    await client.connect();
    await expect(firstValueFrom(client.send('whoami', 'a'))).resolves.toEqual({ tag: 'a', publicKey: alice.publicKey });
    expect((await joined).publicKey).toBe(alice.publicKey);
    expect(server.getPeers().map(p => p.publicKey)).toEqual([alice.publicKey]);
    client.emit('note', 'hi');
    await expect(probe.wait('note')).resolves.toEqual({ text: 'hi', publicKey: alice.publicKey });
    expect(server.getStats().refused).toBe(0);
  });
});

describe('a Nest guard on ctx.getPublicKey()', () => {
  test('lets the admin key call the pattern and refuses another allowed key', async () => {
    const { endpoint } = await curveServer('tcp', [alice.publicKey, bob.publicKey]);
    await expect(firstValueFrom(curveClient(endpoint, alice).send('admin.flush', {}))).resolves.toBe('flushed');
    const err = await rejectionOf(firstValueFrom(curveClient(endpoint, bob).send('admin.flush', {})));
    expect(err).toMatchObject({ code: 'E_FORBIDDEN', message: 'admins only' });
    expect(probe.count('flush')).toBe(1);
  });
});

describe('refusals', () => {
  test('an unlisted key fails connect() and send() with AUTH_FAILED; the server emits peer:refused with it', async () => {
    const { server, endpoint } = await curveServer('tcp', [alice.publicKey]);
    const refused = nextEvent<ZmqPeerRefusedEvent>(server, 'peer:refused');
    const client = curveClient(endpoint, bob);
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe(ZmqErrorCode.AUTH_FAILED);
    const event = await refused;
    expect(event).toMatchObject({ publicKey: bob.publicKey, address: '127.0.0.1', direction: 'downstream' });
    expect(event.error.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect((await rejectionOf(firstValueFrom(client.send('whoami', 'b')))).code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(server.getStats().refused).toBeGreaterThanOrEqual(1);
    expect(probe.count('whoami')).toBe(0);
    expect(server.getPeers()).toEqual([]);
  });

  test('a wrong server key fails connect() with CONNECT_TIMEOUT: the connection was accepted, the key is named', async () => {
    const { server, endpoint } = await curveServer('tcp', '*');
    const refused = nextEvent<ZmqPeerRefusedEvent>(server, 'peer:refused');
    const client = h.track(
      new ClientZmq({
        connect: endpoint,
        connectTimeout: 3_000,
        curve: { serverKey: generateCurveKeyPair().publicKey, ...alice },
      }),
    );
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect(err.message).toContain(`something at ${endpoint} accepted the TCP connection but no ZeroMQ handshake`);
    expect(err.message).toContain('the server uses CURVE and the CURVE handshake failed: a wrong curve.serverKey');
    expect((await refused).error.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(probe.count('whoami')).toBe(0);
  });

  test('a plaintext client of a CURVE server fails with CONNECT_TIMEOUT naming CURVE, counted by the server', async () => {
    // A plaintext DEALER reads no socket monitor (docs/PROTOCOL.md §9): its probe finds the connection accepted.
    const { server, endpoint } = await curveServer('tcp', '*');
    const refused = nextEvent<ZmqPeerRefusedEvent>(server, 'peer:refused');
    const client = h.track(new ClientZmq({ connect: endpoint, connectTimeout: 3_000 }));
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect(err.message).toContain(`something at ${endpoint} accepted the TCP connection but no ZeroMQ handshake`);
    expect(err.message).toContain('its ZeroMQ greeting asks for CURVE, and this client has no "curve" option');
    expect((await refused).publicKey).toBeUndefined();
    expect(server.getStats().refused).toBeGreaterThanOrEqual(1);
    expect(probe.count('whoami')).toBe(0);
  });

  test('a CURVE client of a plaintext server fails with AUTH_FAILED', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [KeyController] });
    const client = curveClient(endpoint, alice);
    const refused = nextEvent<ZmqPeerRefusedEvent>(client, 'peer:refused');
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(err.message).toMatch(/does not use CURVE/);
    expect((await refused).endpoint).toBe(endpoint);
    expect(client.getStats().refused).toBe(1);
    expect(probe.count('whoami')).toBe(0);
  });
});

describe('allow forms', () => {
  test("'*' takes a client with a fresh key pair it made itself", async () => {
    const { endpoint } = await curveServer('tcp', '*');
    const client = curveClient(endpoint, undefined);
    const reply = await firstValueFrom(client.send<{ publicKey: string }>('whoami', 'x'));
    expect(reply.publicKey).toMatch(/^.{40}$/);
    expect([serverPair.publicKey, alice.publicKey, bob.publicKey]).not.toContain(reply.publicKey);
  });

  test('an async function decides per handshake, with the address, and can refuse', async () => {
    const asked: Array<{ publicKey: string; address: string }> = [];
    const allow = async (peer: { publicKey: string; address: string }) => {
      asked.push(peer);
      await Promise.resolve();
      return peer.publicKey === alice.publicKey;
    };
    const { server, endpoint } = await curveServer('tcp', allow);
    const a = curveClient(endpoint, alice);
    await expect(firstValueFrom(a.send('whoami', 'a'))).resolves.toMatchObject({ publicKey: alice.publicKey });
    const refused = nextEvent<ZmqPeerRefusedEvent>(server, 'peer:refused');
    const b = curveClient(endpoint, bob);
    expect((await rejectionOf(b.connect())).code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect((await refused).publicKey).toBe(bob.publicKey);
    expect(asked).toContainEqual({ publicKey: alice.publicKey, address: '127.0.0.1' });
    expect(asked).toContainEqual({ publicKey: bob.publicKey, address: '127.0.0.1' });
    expect(probe.all('whoami')).toEqual(['a']);
  });
});

describe('one ZAP handler for the process', () => {
  test('two servers share it, each with its own allow-list; closing one leaves the other guarded and working', async () => {
    const first = await curveServer('tcp', [alice.publicKey]);
    const second = await curveServer('tcp', [bob.publicKey]);
    await firstValueFrom(curveClient(first.endpoint, alice).send('whoami', '1a'));
    await firstValueFrom(curveClient(second.endpoint, bob).send('whoami', '2b'));
    expect((await rejectionOf(curveClient(second.endpoint, alice).connect())).code).toBe(ZmqErrorCode.AUTH_FAILED);
    await first.app.close();
    await firstValueFrom(curveClient(second.endpoint, bob).send('whoami', '2b-again'));
    expect((await rejectionOf(curveClient(second.endpoint, alice).connect())).code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(probe.all('whoami')).toEqual(['1a', '2b', '2b-again']);
  });
});

describe('run-time changes', () => {
  test('[S-30] setAllow() applies to new handshakes; disconnect() ends the session and the key cannot come back', async () => {
    const { server, endpoint } = await curveServer('tcp', [alice.publicKey, bob.publicKey]);
    const a = curveClient(endpoint, alice);
    await firstValueFrom(a.send('whoami', 'before'));

    server.setAllow([bob.publicKey]);
    // Connected before the change: still served.
    await expect(firstValueFrom(a.send('whoami', 'still'))).resolves.toMatchObject({ tag: 'still' });
    // A new connection with the removed key is refused.
    const again = curveClient(endpoint, alice);
    expect((await rejectionOf(again.connect())).code).toBe(ZmqErrorCode.AUTH_FAILED);

    const left = nextEvent<ZmqPeerEvent>(server, 'peer:left', e => e.publicKey === alice.publicKey);
    const clientRefused = nextEvent<ZmqPeerRefusedEvent>(a, 'peer:refused');
    expect(server.disconnect(alice.publicKey)).toBe(1);
    expect(await left).toMatchObject({ publicKey: alice.publicKey, reason: 'disconnect' });
    // The client says HELLO again on its open connection: refused, the key is not allowed.
    expect((await clientRefused).error.code).toBe(ZmqErrorCode.AUTH_FAILED);
    expect(server.getPeers().map(p => p.publicKey)).toEqual([]);
    expect((await rejectionOf(firstValueFrom(a.send('whoami', 'after')))).code).toBe(ZmqErrorCode.NO_PEER);

    // Allowed again: a new connection works.
    server.setAllow([alice.publicKey]);
    const back = curveClient(endpoint, alice);
    await expect(firstValueFrom(back.send('whoami', 'back'))).resolves.toMatchObject({ publicKey: alice.publicKey });
    expect(probe.all('whoami')).toEqual(['before', 'still', 'back']);
  });
});
