/**
 * Rules of docs/PROTOCOL.md checked here rather than by the kit: the order of
 * drop reasons, MessagePack record slots reused within a payload, and what a
 * client does with an error code it does not know and with NOT_READY on a
 * session (a hand-driven ROUTER plays the server).
 */
import { firstValueFrom } from 'rxjs';
import { ClientZmq } from 'nestjs-zeromq';
import { loadMsgpack } from '../../lib/common/msgpack-loader';
import { KitSocket } from '../../lib/conformance/peer';
import { EMPTY, ENC, header, json, T } from '../../lib/conformance/wire';
import { decodePayload, encodeWirePayload } from '../../lib/protocol/codec';
import { decodeEnvelope, Encoding, MalformedError } from '../../lib/protocol/frames';
import { rejectionOf } from '../helpers/async';

const MAX = 1024;

function reasonOf(h: Buffer, payload: Buffer): string {
  try {
    decodeEnvelope(h, payload, MAX);
  } catch (err) {
    if (err instanceof MalformedError) return err.reason;
    throw err;
  }
  return 'none';
}

describe('drop reasons', () => {
  it.each([
    ['version before type', header(99, { version: 2 }), EMPTY, 'version'],
    ['type before header', header(99, { flags: 0x40 }), EMPTY, 'type'],
    [
      'a header flag before metadata',
      header(T.REQUEST, { id: 1, pattern: 'p', flags: 0x40, meta: '{' }),
      EMPTY,
      'header',
    ],
    [
      'metadata before an oversized payload',
      header(T.REQUEST, { id: 1, pattern: 'p', enc: ENC.JSON, meta: '{' }),
      Buffer.alloc(MAX + 1),
      'metadata',
    ],
    [
      'oversized before a NONE payload that is not empty',
      header(T.REQUEST, { id: 1, pattern: 'p' }),
      Buffer.alloc(MAX + 1),
      'oversized',
    ],
    ['a pattern over 4,096 bytes is header', header(T.REQUEST, { id: 1, pattern: 'p'.repeat(4097) }), EMPTY, 'header'],
    [
      'metadata over 16 KiB is metadata',
      header(T.REQUEST, { id: 1, pattern: 'p', meta: JSON.stringify({ a: 'x'.repeat(16_384) }) }),
      EMPTY,
      'metadata',
    ],
  ])('[W-25] [W-10] [W-11] %s', (_name, h, payload, reason) => {
    expect(reasonOf(h, payload)).toBe(reason);
  });
});

describe('MessagePack records', () => {
  beforeAll(() => loadMsgpack());

  it('[W-18] a later definition of a slot replaces the earlier one within the payload', () => {
    // [ {a:1} defining slot 0x40, {b:2} defining it again, then 0x40 alone: {b:3} ]
    const bytes = Buffer.from('93' + 'd4724091a16101' + 'd4724091a16202' + '4003', 'hex');
    expect(decodePayload(Encoding.Msgpack, bytes, 0, true)).toEqual([{ a: 1 }, { b: 2 }, { b: 3 }]);
  });

  it('[W-18] more than 64 record shapes in one payload round-trip', () => {
    const value = [...Array.from({ length: 70 }, (_, i) => ({ [`k${i}`]: i })), { k0: 'again' }];
    const wire = encodeWirePayload(value, true);
    expect(wire.encoding).toBe(Encoding.Msgpack);
    expect(decodePayload(Encoding.Msgpack, Buffer.from(wire.payload as Buffer), 0, true)).toEqual(value);
  });
});

describe('a client and a hand-driven server', () => {
  let kit: KitSocket;
  let client: ClientZmq;

  beforeEach(async () => {
    const bound = await KitSocket.router('tcp://127.0.0.1:*');
    kit = bound.socket;
    client = new ClientZmq({ connect: bound.endpoint, connectTimeout: 10_000 });
    const connecting = client.connect();
    const hello = await kit.next(a => a.env.type === T.HELLO, 10_000, 'HELLO');
    const welcome = { version: 1, id: 'hand', metadata: {}, heartbeat: { interval: 10_000, liveness: 3 } };
    await kit.send(
      [[header(T.WELCOME, { enc: ENC.JSON }), json({ ...welcome, patterns: ['x'], events: [] })]],
      hello.routingId,
    );
    await connecting;
  });

  afterEach(async () => {
    await client.close();
    kit.close();
  });

  /** The next REQUEST, and an answer to it: ERROR(id) with `error`. */
  async function answerError(error: Record<string, unknown>, from: number): Promise<void> {
    const req = await kit.next(a => a.env.type === T.REQUEST, 10_000, 'REQUEST', from);
    await kit.send([[header(T.ERROR, { id: req.env.id, enc: ENC.JSON }), json(error)]], req.routingId);
  }

  it('[W-2] an error code it does not know is a remote error of that code', async () => {
    const mark = kit.mark;
    const call = rejectionOf(firstValueFrom(client.send('x', 1)));
    await answerError({ status: 'error', code: 'CONFORMANCE_LATER_CODE', message: 'from a later version' }, mark);
    expect(await call).toMatchObject({ code: 'CONFORMANCE_LATER_CODE', message: 'from a later version' });
  });

  it('[C-5] NOT_READY for a call on a session fails it PEER_LOST and brings one HELLO', async () => {
    const mark = kit.mark;
    const call = rejectionOf(firstValueFrom(client.send('x', 1)));
    await answerError({ status: 'error', code: 'NOT_READY', message: 'no session' }, mark);
    expect(await call).toMatchObject({ code: 'PEER_LOST' });
    await kit.next(a => a.env.type === T.HELLO, 10_000, 'a new HELLO', mark);
  });
});
