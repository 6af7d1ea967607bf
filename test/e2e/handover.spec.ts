/**
 * A client that closes and connects again reuses its id on a new connection.
 * ZeroMQ orders nothing across connections, so the new HELLO may reach the
 * server before the old connection's BYE. The `instance` token of the HELLO
 * tells the server it is the same client (docs/PROTOCOL.md §4.3): it hands the
 * session over instead of refusing a duplicate id. Another client claiming a
 * connected id is still refused.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { Dealer } from 'zeromq';
import { ClientZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';
import { EMPTY, ENC, header, json, ParsedEnvelope, parseEnvelopes, T } from '../helpers/wire';

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown) {
    return data;
  }
}

function hello(id: string, instance?: string): Buffer[] {
  const body = {
    version: 1,
    id,
    metadata: {},
    heartbeat: { interval: 1000, liveness: 3 },
    ...(instance ? { instance } : {}),
  };
  return [header(T.HELLO, { enc: ENC.JSON }), json(body)];
}

async function answer(sock: Dealer, frames: Buffer[]): Promise<ParsedEnvelope> {
  await sock.send(frames);
  const [first] = parseEnvelopes(await sock.receive(), 0);
  return first!;
}

describe('handover of a reconnecting client', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it('welcomes the same id on a new connection when the instance matches, and ends the old session', async () => {
    const { server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [EchoController] });
    const first = h.track({
      sock: new Dealer({ linger: 0, receiveTimeout: 5000 }),
      close() {
        this.sock.close();
      },
    });
    const second = h.track({
      sock: new Dealer({ linger: 0, receiveTimeout: 5000 }),
      close() {
        this.sock.close();
      },
    });
    first.sock.connect(endpoint);
    second.sock.connect(endpoint);
    const left: string[] = [];
    server.on('peer:left', e => left.push(`${e.peerId}:${e.reason}`));

    expect((await answer(first.sock, hello('c1', 'inst-A'))).type).toBe(T.WELCOME);
    expect((await answer(second.sock, hello('c1', 'inst-A'))).type).toBe(T.WELCOME);
    expect(left).toEqual(['c1:disconnect']);
    expect(server.getPeers().map(p => p.peerId)).toEqual(['c1']);
    // The old connection is told (had it been alive, its client would stay refused: the two never flap)...
    const [takeover] = parseEnvelopes(await first.sock.receive(), 0);
    expect(takeover).toMatchObject({ type: T.ERROR, id: 0 });
    expect(takeover!.body).toMatchObject({
      code: 'HANDSHAKE_REFUSED',
      message: expect.stringMatching(/took the session over/),
    });
    // ...and has no session any more: its request is NOT_READY.
    const reply = await answer(first.sock, [header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'echo' }), json(1)]);
    expect(reply.type).toBe(T.ERROR);
    expect(reply.body).toMatchObject({ code: 'NOT_READY' });
    // A late BYE from the old connection does not end the new session.
    await first.sock.send([header(T.BYE), EMPTY]);
    const pong = await answer(second.sock, [header(T.PING), EMPTY]);
    expect(pong.type).toBe(T.PONG);
    expect(server.getPeers().map(p => p.peerId)).toEqual(['c1']);
  });

  it.each([
    ['another instance', 'inst-B'],
    ['no instance', undefined],
  ])('refuses the same id from %s', async (_what, instance) => {
    const { server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [EchoController] });
    const first = h.track({
      sock: new Dealer({ linger: 0, receiveTimeout: 5000 }),
      close() {
        this.sock.close();
      },
    });
    const second = h.track({
      sock: new Dealer({ linger: 0, receiveTimeout: 5000 }),
      close() {
        this.sock.close();
      },
    });
    first.sock.connect(endpoint);
    second.sock.connect(endpoint);
    expect((await answer(first.sock, hello('c1', 'inst-A'))).type).toBe(T.WELCOME);
    const refusal = await answer(second.sock, hello('c1', instance));
    expect(refusal.type).toBe(T.ERROR);
    expect(refusal.id).toBe(0);
    expect(refusal.body).toMatchObject({ code: 'HANDSHAKE_REFUSED' });
    expect(server.getPeers()).toHaveLength(1);
  });

  describe.each(TRANSPORTS)('over %s', kind => {
    it('close() then connect() with a fixed id succeeds every time (50 rounds)', async () => {
      const { endpoint } = await h.startServer({ bind: bindEndpoint(kind, h.dirs), controllers: [EchoController] });
      const client = h.track(new ClientZmq({ connect: endpoint, id: `fixed-${kind}`, connectTimeout: 5000 }));
      for (let round = 0; round < 50; round++) {
        expect(await firstValueFrom(client.send('echo', round))).toBe(round);
        await client.close();
      }
    });
  });
});
