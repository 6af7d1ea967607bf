/**
 * `codec: 'msgpack'` (docs/PROTOCOL.md §3.2, §4.5): MessagePack is negotiated
 * in the handshake, carries Dates, Maps, Sets, BigInts, typed arrays and
 * Buffers inside objects both ways, and a peer that does not take it gets JSON.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { Dealer } from 'zeromq';
import { ClientZmq } from 'nestjs-zeromq';
import { runTsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { ENC, header, json, T } from '../helpers/wire';

const seen: unknown[] = [];
let audited: (value: unknown) => void = () => undefined;

@Controller()
class TypesController {
  @MessagePattern('echo')
  echo(@Payload() value: Record<string, unknown>) {
    seen.push(value);
    return value;
  }

  @MessagePattern('kinds')
  kinds(@Payload() value: Record<string, unknown>) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, kindOf(v)]));
  }

  @MessagePattern('stream')
  stream(@Payload() n: number) {
    return from(Array.from({ length: n }, (_, i) => ({ i, at: new Date(Date.UTC(2026, 0, 1 + i)), big: BigInt(i) })));
  }

  @EventPattern('audit')
  audit(@Payload() value: unknown) {
    audited(value);
  }
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? v.constructor.name : typeof v;
}

const value = () => ({
  when: new Date(Date.UTC(2026, 11, 1, 12, 30)),
  counts: new Map<unknown, unknown>([
    ['a', 1],
    [2, 'two'],
  ]),
  tags: new Set(['x', 'y']),
  big: 2n ** 70n,
  small: 7n,
  bytes: Buffer.from([1, 2, 3]),
  nested: { list: [1, 'two', null, { deep: new Map([['k', new Set([1])]]) }] },
});

const h = new Harness();
let msgpackServer: string;
let jsonServer: string;

beforeAll(async () => {
  ({ endpoint: msgpackServer } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [TypesController],
    options: { codec: 'msgpack' },
  }));
  ({ endpoint: jsonServer } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [TypesController] }));
});

afterAll(() => h.closeAll());

describe("codec: 'msgpack' on both sides", () => {
  let client: ClientZmq;
  beforeAll(async () => {
    client = await h.connectClient(msgpackServer, { codec: 'msgpack' });
  });

  it('the handler gets Dates, Maps, Sets, BigInts, typed arrays and Buffers as themselves', async () => {
    const kinds = await firstValueFrom(client.send('kinds', value()));
    expect(kinds).toEqual({
      when: 'Date',
      counts: 'Map',
      tags: 'Set',
      big: 'bigint',
      small: 'bigint',
      bytes: 'Buffer',
      nested: 'Object',
    });
  });

  it('the reply round-trips them exactly', async () => {
    const reply = await firstValueFrom(client.send<ReturnType<typeof value>>('echo', value()));
    expect(reply).toEqual(value());
    expect(reply.counts.get(2)).toBe('two');
    expect((reply.nested.list[3] as { deep: Map<string, Set<number>> }).deep.get('k')).toEqual(new Set([1]));
  });

  it('every streamed value is MessagePack too', async () => {
    const values = await lastValueFrom(client.send<{ i: number; at: Date; big: bigint }>('stream', 3).pipe(toArray()));
    expect(values.map(v => [v.i, v.at.toISOString(), v.big])).toEqual([
      [0, '2026-01-01T00:00:00.000Z', 0n],
      [1, '2026-01-02T00:00:00.000Z', 1n],
      [2, '2026-01-03T00:00:00.000Z', 2n],
    ]);
  });

  it('events are MessagePack', async () => {
    const got = new Promise(resolve => (audited = resolve));
    client.emit('audit', { at: new Date(0), ids: new Set([1]) });
    expect(await got).toEqual({ at: new Date(0), ids: new Set([1]) });
  });

  it('typed arrays round-trip (checked in a plain Node child: Jest gives tests typed arrays of another realm)', async () => {
    const result = await runTsChild('test/fixtures/msgpack-types.ts');
    expect(result.stderr).toBe('');
    const line = result.stdout.split('\n').find(l => l.startsWith('RESULT '));
    const kinds = { f64: 'Float64Array', f32: 'Float32Array', i32: 'Int32Array', u8: 'Uint8Array', map: 'Map' };
    expect(JSON.parse(line!.slice('RESULT '.length))).toEqual({
      handlerSaw: kinds,
      clientGot: kinds,
      values: [[1.5, -2], [-7], [3]],
    });
    expect(result.code).toBe(0);
  });

  it('strings, Buffers and undefined keep their own encodings', async () => {
    await expect(firstValueFrom(client.send('echo', 'text'))).resolves.toBe('text');
    await expect(firstValueFrom(client.send('echo', Buffer.from('raw')))).resolves.toEqual(Buffer.from('raw'));
  });
});

describe('a peer that does not take MessagePack gets JSON', () => {
  it('[W-14] a msgpack client and a JSON server talk JSON (a Date arrives as its string)', async () => {
    const client = await h.connectClient(jsonServer, { codec: 'msgpack' });
    const kinds = await firstValueFrom(client.send('kinds', { when: new Date(0), n: 1 }));
    expect(kinds).toEqual({ when: 'string', n: 'number' });
  });

  it('[W-14] a JSON client and a msgpack server talk JSON', async () => {
    const client = await h.connectClient(msgpackServer);
    const reply = await firstValueFrom(client.send('echo', { when: new Date(0), n: 1 }));
    expect(reply).toEqual({ when: '1970-01-01T00:00:00.000Z', n: 1 });
  });

  it('BigInt still fails with SERIALIZATION over JSON, and the session goes on', async () => {
    const client = await h.connectClient(jsonServer, { codec: 'msgpack' });
    await expect(firstValueFrom(client.send('echo', { big: 1n }))).rejects.toMatchObject({ code: 'SERIALIZATION' });
    await expect(firstValueFrom(client.send('echo', { n: 1 }))).resolves.toEqual({ n: 1 });
  });
});

describe('on the wire', () => {
  async function welcomeFor(endpoint: string, features: unknown) {
    const dealer = h.track(new Dealer({ linger: 0, receiveTimeout: 5000 }));
    dealer.connect(endpoint);
    const hello = { version: 1, id: `raw-${Math.random()}`, metadata: {}, heartbeat: { interval: 1000, liveness: 3 } };
    await dealer.send([header(T.HELLO, { enc: ENC.JSON }), json({ ...hello, ...(features ? { features } : {}) })]);
    const [head, body] = await dealer.receive();
    return { dealer, type: head![1], welcome: JSON.parse(body!.toString()) as { features?: string[] } };
  }

  it('a server with msgpack accepts it when offered, and lists only what it accepts', async () => {
    const { type, welcome } = await welcomeFor(msgpackServer, ['msgpack', 'something-else']);
    expect(type).toBe(T.WELCOME);
    expect(welcome.features).toEqual(['msgpack']);
  });

  it('a HELLO without features (a 1.0 client) gets a WELCOME without features, and JSON replies', async () => {
    const { dealer, welcome } = await welcomeFor(msgpackServer, undefined);
    expect(welcome.features).toBeUndefined();
    await dealer.send([header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'echo' }), json({ a: 1 })]);
    const [head, body] = await dealer.receive();
    expect(head![3]).toBe(ENC.JSON);
    expect(JSON.parse(body!.toString())).toEqual({ a: 1 });
  });

  it('a session that took msgpack gets object replies as encoding 4', async () => {
    const { dealer } = await welcomeFor(msgpackServer, ['msgpack']);
    await dealer.send([header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'echo' }), json({ a: 1 })]);
    const [head] = await dealer.receive();
    expect(head![1]).toBe(T.CHUNK);
    expect(head![3]).toBe(4);
  });

  it('[W-14] a MSGPACK request on a session that did not take msgpack gets MALFORMED, and runs no handler', async () => {
    const { dealer, welcome } = await welcomeFor(msgpackServer, undefined);
    expect(welcome.features).toBeUndefined();
    const before = seen.length;
    await dealer.send([header(T.REQUEST, { id: 1, enc: 4, pattern: 'echo' }), Buffer.from('d4724091a16101', 'hex')]);
    const [head, body] = await dealer.receive();
    expect([head![1], head!.readUInt32BE(4)]).toEqual([T.ERROR, 1]);
    expect(JSON.parse(body!.toString())).toMatchObject({ code: 'MALFORMED' });
    expect(seen.length).toBe(before);
  });

  it('a server without msgpack does not list it', async () => {
    const { welcome } = await welcomeFor(jsonServer, ['msgpack']);
    expect(welcome.features).toBeUndefined();
  });

  it('a HELLO with malformed features is refused', async () => {
    const { type } = await welcomeFor(msgpackServer, 'msgpack');
    expect(type).toBe(T.ERROR);
  });
});
