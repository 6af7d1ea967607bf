/**
 * The mesh in one process: routing by the patterns each server announced,
 * targeting by id / metadata / predicate, broadcast, events to one or all,
 * least-pending, the process-wide ZmqPeerEvents stream, and handshake
 * refusals reported as typed errors on the server side too.
 */
import 'reflect-metadata';
import { Controller, Type } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { Dealer } from 'zeromq';
import {
  ClientZmq,
  ServerZmq,
  ZmqPeerChange,
  ZmqPeerEvents,
  ZmqOptionsError,
  ZmqPeerRefusedEvent,
  ZmqVersionMismatchError,
} from 'nestjs-zeromq';
import { deferred, Probe, rejectionOf, within } from '../helpers/async';
import { Harness } from '../helpers/nest';
import { ENC, header, helloPayload, json, parseEnvelopes, T } from '../helpers/wire';

const probe = new Probe();

/** A controller class of its own for each server, so handlers know which server they run in. */
function controllerFor(name: string, extra: 'a' | 'b'): Type<unknown> {
  @Controller()
  class NamedController {
    @MessagePattern('who')
    who() {
      return name;
    }

    @MessagePattern(extra === 'a' ? 'only.a' : 'only.b')
    only() {
      return `${name}:${extra}`;
    }

    @MessagePattern('health')
    health(@Payload() fail: string) {
      if (fail === name) throw new RpcException({ code: 'E_SICK', message: `${name} is sick` });
      return { name, ok: true };
    }

    @MessagePattern('slow')
    async slow(@Payload() tag: string) {
      probe.hit(`slow:start:${name}`, tag);
      await probe.gate(`slow:${name}`);
      return name;
    }

    @EventPattern('note')
    note(@Payload() data: unknown) {
      probe.hit(`note:${name}`, data);
    }
  }
  return NamedController;
}

describe('mesh routing', () => {
  const h = new Harness();
  let s1: ServerZmq;
  let s2: ServerZmq;
  let endpoints: string[];

  beforeEach(async () => {
    probe.reset();
    const a = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [controllerFor('s1', 'a')],
      options: { id: 's1', metadata: { zone: 'eu', tier: 1 } },
    });
    const b = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [controllerFor('s2', 'b')],
      options: { id: 's2', metadata: { zone: 'us', tier: 2 } },
    });
    s1 = a.server;
    s2 = b.server;
    endpoints = [a.endpoint, b.endpoint];
  });
  afterEach(() => h.closeAll());

  async function meshClient(extra: Record<string, unknown> = {}): Promise<ClientZmq> {
    const client = h.track(new ClientZmq({ connect: endpoints, ...extra }));
    const both = deferred();
    let n = 0;
    client.on('peer:joined', () => ++n === 2 && both.resolve());
    await client.connect();
    await within(both.promise, 5_000, 'both servers');
    return client;
  }

  it('lists both servers with the patterns they serve, and sends each request only to servers that serve it', async () => {
    const client = await meshClient();
    const peers = client.getPeers().sort((x, y) => x.peerId.localeCompare(y.peerId));
    expect(peers.map(p => [p.peerId, p.metadata, p.patterns?.includes('only.a'), p.events])).toEqual([
      ['s1', { zone: 'eu', tier: 1 }, true, ['note']],
      ['s2', { zone: 'us', tier: 2 }, false, ['note']],
    ]);
    for (let i = 0; i < 6; i++) {
      await expect(firstValueFrom(client.send('only.a', i))).resolves.toBe('s1:a');
      await expect(firstValueFrom(client.send('only.b', i))).resolves.toBe('s2:b');
    }
    const spread = await Promise.all(Array.from({ length: 10 }, () => firstValueFrom(client.send('who', 0))));
    expect(spread.filter(x => x === 's1')).toHaveLength(5);
    expect(s1.getPeers().map(p => p.peerId)).toEqual([client.id]);
    expect(s2.getPeers().map(p => p.peerId)).toEqual([client.id]);
  });

  it('sendTo a peer id, a metadata filter or a predicate; no match fails at once with NO_PEER', async () => {
    const client = await meshClient();
    for (let i = 0; i < 4; i++) {
      await expect(firstValueFrom(client.sendTo('s2', 'who', i))).resolves.toBe('s2');
      await expect(firstValueFrom(client.sendTo({ metadata: { zone: 'eu' } }, 'who', i))).resolves.toBe('s1');
      await expect(firstValueFrom(client.sendTo(p => p.metadata.tier === 2, 'who', i))).resolves.toBe('s2');
    }
    const err = await rejectionOf(firstValueFrom(client.sendTo({ metadata: { zone: 'mars' } }, 'who', 1)));
    expect(err).toMatchObject({ code: 'NO_PEER' });
    expect(err.message).toContain('who');
    // A target that does not serve the pattern is no match either.
    expect(await rejectionOf(firstValueFrom(client.sendTo('s2', 'only.a', 1)))).toMatchObject({ code: 'NO_PEER' });
  });

  it("broadcast merges every server's replies, a failing server as { peerId, error }", async () => {
    const client = await meshClient();
    const replies = await lastValueFrom(
      client.broadcast<{ name: string; ok: boolean }>('health', 'none').pipe(toArray()),
    );
    expect(replies.map(r => r.peerId).sort()).toEqual(['s1', 's2']);
    expect(replies.every(r => r.value?.ok === true)).toBe(true);

    const mixed = await lastValueFrom(client.broadcast('health', 's2').pipe(toArray()));
    const bad = mixed.find(r => r.peerId === 's2')!;
    expect(bad.error).toMatchObject({ code: 'E_SICK', message: 's2 is sick' });
    expect(mixed.find(r => r.peerId === 's1')!.value).toEqual({ name: 's1', ok: true });

    const eu = await lastValueFrom(client.broadcast('health', 'none', { metadata: { zone: 'eu' } }).pipe(toArray()));
    expect(eu.map(r => r.peerId)).toEqual(['s1']);
    await expect(lastValueFrom(client.broadcast('nobody.serves', 1))).rejects.toMatchObject({ code: 'NO_PEER' });
  });

  it('emit goes to one server, emitAll to every server, emitTo to the target', async () => {
    const client = await meshClient();
    await expect(lastValueFrom(client.emitAll('note', 'all'))).resolves.toEqual(expect.arrayContaining(['s1', 's2']));
    await probe.wait('note:s1');
    await probe.wait('note:s2');
    expect(probe.all('note:s1')).toEqual(['all']);
    expect(probe.all('note:s2')).toEqual(['all']);

    await expect(lastValueFrom(client.emitTo('s2', 'note', 'to-s2'))).resolves.toBe('s2');
    client.emit('note', 'one');
    // Sync on a request to each server: events and requests share each connection's order.
    await firstValueFrom(client.sendTo('s1', 'who', 0));
    await firstValueFrom(client.sendTo('s2', 'who', 0));
    const seen = [...probe.all('note:s1'), ...probe.all('note:s2')];
    expect(seen.filter(x => x === 'one')).toHaveLength(1);
    expect(probe.all('note:s2')).toContain('to-s2');
    expect(probe.all('note:s1')).not.toContain('to-s2');
    await expect(lastValueFrom(client.emitAll('no.handler', 1))).rejects.toMatchObject({ code: 'NO_PEER' });
  });

  it('least-pending sends new requests to the server with fewer in flight', async () => {
    const client = await meshClient({ strategy: 'least-pending' });
    // Park one request on s1.
    const parked = firstValueFrom(client.sendTo('s1', 'slow', 'p'));
    await probe.wait('slow:start:s1');
    const picks = [];
    for (let i = 0; i < 5; i++) picks.push(await firstValueFrom(client.send('who', i)));
    expect(picks).toEqual(['s2', 's2', 's2', 's2', 's2']);
    expect(client.getPeers().find(p => p.peerId === 's1')!.pending).toBe(1);
    probe.open('slow:s1');
    await expect(parked).resolves.toBe('s1');
    expect(client.getPeers().every(p => p.pending === 0)).toBe(true);
  });

  it('the option is checked', () => {
    expect(() => new ClientZmq({ connect: endpoints, strategy: 'random' as never })).toThrow(ZmqOptionsError);
  });
});

describe('peer events', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it('ZmqPeerEvents sees joins and leaves of servers and clients without holding them', async () => {
    const changes: ZmqPeerChange[] = [];
    const sub = new ZmqPeerEvents().changes$.subscribe(c => {
      if (c.localId === 'pe-server' || c.localId === 'pe-client') changes.push(c);
    });
    try {
      const { endpoint } = await h.startServer({
        bind: 'tcp://127.0.0.1:*',
        controllers: [controllerFor('pe', 'a')],
        options: { id: 'pe-server' },
      });
      const client = new ClientZmq({ connect: endpoint, id: 'pe-client' });
      const serverSawLeave = deferred();
      ZmqPeerEvents.changes$.subscribe(c => c.localId === 'pe-server' && c.type === 'left' && serverSawLeave.resolve());
      await client.connect();
      await client.close();
      await within(serverSawLeave.promise, 5_000, 'the server to see the bye');
      const summary = changes.map(c => `${c.role}:${c.type}:${c.peerId}:${c.reason ?? ''}`).sort();
      expect(summary).toEqual([
        'client:joined:pe-server:',
        'client:left:pe-server:bye',
        'server:joined:pe-client:',
        'server:left:pe-client:bye',
      ]);
    } finally {
      sub.unsubscribe();
    }
  });

  it('a hello in another protocol version is refused with a typed error on the server too (peer:refused)', async () => {
    const { server, endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [controllerFor('v', 'a')],
    });
    const refused = deferred<ZmqPeerRefusedEvent>();
    server.on('peer:refused', e => refused.resolve(e));
    const sock = h.track({
      sock: new Dealer({ linger: 0, receiveTimeout: 5_000 }),
      close() {
        this.sock.close();
      },
    }).sock;
    sock.connect(endpoint);
    await sock.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload('old-client', 7)]);
    const [reply] = parseEnvelopes(await sock.receive(), 0);
    expect(reply).toMatchObject({ type: T.ERROR, id: 0, body: { code: 'VERSION_MISMATCH', version: 1 } });
    const event = await within(refused.promise, 5_000, 'peer:refused');
    expect(event.peerId).toBe('old-client');
    expect(event.error).toBeInstanceOf(ZmqVersionMismatchError);
    expect(event.error).toMatchObject({ code: 'VERSION_MISMATCH', localVersion: 1, remoteVersion: 7 });
    expect(server.getPeers()).toEqual([]);
  });

  it('one client with two endpoints of the same server: the second link is refused (the id is taken), the first serves', async () => {
    const { server } = await h.startServer({
      bind: ['tcp://127.0.0.1:*', 'tcp://127.0.0.1:*'],
      controllers: [controllerFor('dup', 'a')],
    });
    const [e1, e2] = server.endpoints;
    const client = h.track(new ClientZmq({ connect: [e1!, e2!], id: 'dup-client' }));
    const refused = deferred<ZmqPeerRefusedEvent>();
    client.on('peer:refused', e => refused.resolve(e));
    const left: string[] = [];
    server.on('peer:left', e => left.push(e.peerId));
    await client.connect();
    const event = await within(refused.promise, 5_000, 'peer:refused');
    expect(event).toMatchObject({ direction: 'upstream', error: { code: 'HANDSHAKE_REFUSED' } });
    for (let i = 0; i < 5; i++) await expect(firstValueFrom(client.send('who', i))).resolves.toBe('dup');
    expect(client.getPeers()).toHaveLength(1);
    expect(server.getPeers().map(p => p.peerId)).toEqual(['dup-client']);
    expect(left).toEqual([]);
  });

  it('a request for a pattern without handler still gets NO_HANDLER from the server (a client that ignores the welcome)', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [controllerFor('nh', 'a')] });
    const sock = h.track({
      sock: new Dealer({ linger: 0, receiveTimeout: 5_000 }),
      close() {
        this.sock.close();
      },
    }).sock;
    sock.connect(endpoint);
    await sock.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload('raw')]);
    expect(parseEnvelopes(await sock.receive(), 0)[0]!.type).toBe(T.WELCOME);
    await sock.send([header(T.REQUEST, { id: 9, enc: ENC.JSON, pattern: 'nope' }), json(1)]);
    const [reply] = parseEnvelopes(await sock.receive(), 0);
    expect(reply).toMatchObject({ type: T.ERROR, id: 9, body: { code: 'NO_HANDLER', pattern: 'nope' } });
  });
});
