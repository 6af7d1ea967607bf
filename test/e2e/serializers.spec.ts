/**
 * Nest's `serializer` / `deserializer` options on both sides, with superjson:
 * what the serializer returns is the payload on the wire, so Dates, Maps, Sets
 * and BigInts survive requests, stream values, events and errors; the
 * transport's own errors (NO_HANDLER) go through the same codec.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import superjson from 'superjson';
import { Dealer } from 'zeromq';
import { ClientZmq, ZmqErrorCode } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { ENC, header, helloPayload, parseEnvelopes, T } from '../helpers/wire';

interface Shapes {
  when: Date;
  tags: Set<string>;
  counts: Map<string, number>;
  big: bigint;
}

const superjsonSerializer = { serialize: (value: unknown) => superjson.stringify(value) };
const superjsonDeserializer = { deserialize: (value: string) => superjson.parse(value) };
const codec = { serializer: superjsonSerializer, deserializer: superjsonDeserializer };

let audited: (value: unknown) => void;

@Controller()
class ShapesController {
  @MessagePattern('echo')
  echo(@Payload() value: Shapes): Shapes {
    if (!(value.when instanceof Date) || !(value.counts instanceof Map)) throw new Error('not revived');
    return { ...value, big: value.big + 1n };
  }

  @MessagePattern('dates')
  dates(@Payload() n: number) {
    return from(Array.from({ length: n }, (_, i) => new Date(Date.UTC(2026, 0, i + 1))));
  }

  @MessagePattern('fail')
  fail(): never {
    throw new RpcException({ code: 'E_AT', at: new Date(Date.UTC(2026, 11, 1)), limit: 5n });
  }

  @EventPattern('audit')
  audit(@Payload() value: unknown): void {
    audited(value);
  }
}

const h = new Harness();
let endpoint: string;
let client: ClientZmq;

beforeAll(async () => {
  ({ endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [ShapesController], options: codec }));
  client = await h.connectClient(endpoint, codec);
});

afterAll(() => h.closeAll());

const sample: Shapes = {
  when: new Date(Date.UTC(2026, 11, 1, 12)),
  tags: new Set(['a', 'b']),
  counts: new Map([['x', 1]]),
  big: 2n ** 70n,
};

describe('serializer / deserializer options (superjson)', () => {
  it('a request and its reply keep Date, Set, Map and BigInt', async () => {
    const reply = await firstValueFrom(client.send<Shapes>('echo', sample));
    expect(reply.when).toBeInstanceOf(Date);
    expect(reply.when.getTime()).toBe(sample.when.getTime());
    expect(reply.tags).toEqual(new Set(['a', 'b']));
    expect(reply.counts).toEqual(new Map([['x', 1]]));
    expect(reply.big).toBe(2n ** 70n + 1n);
  });

  it('every streamed value goes through the codec, in order', async () => {
    const values = await lastValueFrom(client.send<Date>('dates', 3).pipe(toArray()));
    expect(values.map(d => d.toISOString())).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
      '2026-01-03T00:00:00.000Z',
    ]);
  });

  it("a handler's error arrives decoded by the codec", async () => {
    const err = await firstValueFrom(client.send('fail', {}).pipe(toArray())).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_AT' });
    const remote = (err as { error: { at: unknown; limit: unknown } }).error;
    expect(remote.at).toBeInstanceOf(Date);
    expect(remote.limit).toBe(5n);
  });

  it('an event reaches its handler decoded', async () => {
    const seen = new Promise(resolve => (audited = resolve));
    client.emit('audit', { at: sample.when, ids: new Set([1, 2]) });
    const value = (await seen) as { at: Date; ids: Set<number> };
    expect(value.at).toBeInstanceOf(Date);
    expect(value.ids).toEqual(new Set([1, 2]));
  });

  it("the server's own errors go through its serializer too, so the client's deserializer reads them", async () => {
    // A pattern the server does not serve, sent over the wire as the client would (skipping its routing).
    const dealer = h.track(new Dealer({ linger: 0, receiveTimeout: 5000 }));
    dealer.connect(endpoint);
    await dealer.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload('raw-superjson')]);
    const welcome = parseEnvelopes(await dealer.receive(), 0);
    expect(welcome[0]!.type).toBe(T.WELCOME);
    const payload = Buffer.from(superjson.stringify({ pattern: 'nope', data: 1, id: 7 }));
    await dealer.send([header(T.REQUEST, { id: 7, enc: ENC.TEXT, pattern: 'nope' }), payload]);
    const frames = await dealer.receive();
    expect(frames[0]![1]).toBe(T.ERROR);
    const packet = superjson.parse<{ id: number; err: { code: string; pattern: string } }>(frames[1]!.toString());
    expect(packet).toMatchObject({ id: 7, err: { code: ZmqErrorCode.NO_HANDLER, pattern: 'nope' } });
  });

  it('a serializer that throws fails only its own call, with SERIALIZATION', async () => {
    const broken = await h.connectClient(endpoint, {
      deserializer: superjsonDeserializer,
      serializer: {
        serialize: () => {
          throw new Error('boom');
        },
      },
    });
    await expect(firstValueFrom(broken.send('echo', sample))).rejects.toMatchObject({ code: 'SERIALIZATION' });
    await expect(firstValueFrom(client.send<Shapes>('echo', sample))).resolves.toMatchObject({ big: 2n ** 70n + 1n });
  });

  it('an asynchronous serializer is refused per call with SERIALIZATION (order could not be kept)', async () => {
    const asyncClient = await h.connectClient(endpoint, {
      deserializer: superjsonDeserializer,
      serializer: { serialize: (v: unknown) => Promise.resolve(superjson.stringify(v)) },
    });
    await expect(firstValueFrom(asyncClient.send('echo', sample))).rejects.toMatchObject({ code: 'SERIALIZATION' });
  });

  it('a serializer option without serialize() is refused at construction', () => {
    expect(() => new ClientZmq({ connect: endpoint, serializer: {} as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'serializer' }),
    );
  });
});
