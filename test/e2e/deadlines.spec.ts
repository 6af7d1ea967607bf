/**
 * Deadline propagation (docs/PROTOCOL.md §5.6): a client's requestTimeout
 * travels in each REQUEST to a server that took the `deadline` feature; the
 * handler sees it as ctx.getDeadline(), and the server tears the handler down
 * when it passes even if no CANCEL ever comes (the caller died or was cut off).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern } from '@nestjs/microservices';
import { firstValueFrom, Observable, toArray } from 'rxjs';
import { Dealer } from 'zeromq';
import { ServerZmq, ZmqContext } from 'nestjs-zeromq';
import { decodeEnvelope, encodeHeader } from '../../lib/protocol/frames';
import { Harness } from '../helpers/nest';
import { ENC, header, json, parseEnvelopes, T } from '../helpers/wire';

let sawDeadline: (d: number | undefined) => void = () => undefined;
let tornDown: (peersThen: number) => void = () => undefined;
let server: ServerZmq;

@Controller()
class SlowController {
  @MessagePattern('deadline')
  deadline(@Ctx() ctx: ZmqContext): number | null {
    sawDeadline(ctx.getDeadline());
    return ctx.getDeadline() ?? null;
  }

  @MessagePattern('forever')
  forever(): Observable<never> {
    return new Observable<never>(() => () => tornDown(server.getPeers().length));
  }
}

const h = new Harness();
let endpoint: string;

beforeAll(async () => {
  ({ endpoint, server } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [SlowController] }));
});

afterAll(() => h.closeAll());

it("ctx.getDeadline() is the caller's requestTimeout from now, in epoch ms on the server's clock", async () => {
  const client = await h.connectClient(endpoint, { requestTimeout: 7_000 });
  const seen = new Promise<number | undefined>(resolve => (sawDeadline = resolve));
  const before = Date.now();
  const reply = await firstValueFrom(client.send<number>('deadline', {}));
  const after = Date.now();
  const deadline = await seen;
  expect(deadline).toBe(reply);
  expect(deadline).toBeGreaterThanOrEqual(before + 7_000);
  expect(deadline).toBeLessThanOrEqual(after + 7_000);
});

it('a client without a requestTimeout sends no deadline', async () => {
  const client = await h.connectClient(endpoint, { requestTimeout: 0 });
  await expect(firstValueFrom(client.send('deadline', {}))).resolves.toBeNull();
});

it('the handler is torn down at the deadline though no CANCEL comes, while the session is still up', async () => {
  // A raw client that offers `deadline`, sends one request with a 300 ms deadline, then says nothing at all.
  const dealer = h.track(new Dealer({ linger: 0, receiveTimeout: 5000 }));
  dealer.connect(endpoint);
  const hello = { version: 1, id: 'silent', metadata: {}, heartbeat: { interval: 60_000, liveness: 3 } };
  await dealer.send([header(T.HELLO, { enc: ENC.JSON }), json({ ...hello, features: ['deadline'] })]);
  const [welcome] = parseEnvelopes(await dealer.receive(), 0);
  expect((welcome!.body as { features?: string[] }).features).toContain('deadline');
  const down = new Promise<number>(resolve => (tornDown = resolve));
  const request = header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'forever' });
  const withDeadline = Buffer.concat([request, Buffer.from([0, 0, 0x01, 0x2c])]); // 300 ms
  withDeadline[2]! |= 0x04; // flag DEADLINE
  expect(decodeEnvelope(withDeadline, json({}), 1024).deadline).toBe(300);
  await dealer.send([withDeadline, json({})]);
  // Torn down by the deadline: the server still has the session (heartbeats would take > 1 minute).
  expect(await down).toBe(server.getPeers().length);
  expect(server.getPeers().map(p => p.peerId)).toContain('silent');
  expect(server.getStats().inFlight).toBe(0);
});

it('the header layout round-trips (pattern, metadata, deadline)', () => {
  const env = {
    type: 3,
    flags: 0,
    encoding: 1,
    id: 9,
    pattern: Buffer.from('p'),
    metadata: Buffer.from('{"a":"b"}'),
    deadline: 30_000,
    payload: '1',
  } as const;
  const decoded = decodeEnvelope(encodeHeader(env), Buffer.from('1'), 1024);
  expect(decoded).toMatchObject({ pattern: 'p', metadata: { a: 'b' }, deadline: 30_000 });
  expect(decoded.flags & 0x06).toBe(0x06);
});

it('a never-ending call of a client that times out is cancelled at once by its CANCEL (no wait for the deadline)', async () => {
  const client = await h.connectClient(endpoint, { requestTimeout: 200 });
  const down = new Promise<number>(resolve => (tornDown = resolve));
  await expect(firstValueFrom(client.send('forever', {}).pipe(toArray()))).rejects.toMatchObject({ code: 'TIMEOUT' });
  await down;
  expect(server.getStats().inFlight).toBe(0);
});
