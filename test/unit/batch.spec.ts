/**
 * BATCH (docs/PROTOCOL.md §2.1): several envelopes packed into one
 * header/payload pair, and unpacked in place on receipt. The packed layout is
 * written out by hand in test/helpers/wire.ts (packBatch).
 */
import { appendEnvelopeFrames, BATCH_HEADER, packEnvelopes, unpackMessage } from '../../lib/protocol/batch';
import { decodeEnvelope, Encoding, MalformedError, MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { MAX_ENVELOPES_PER_MESSAGE } from '../../lib/protocol/limits';
import { BATCH, ENC, header, json, packBatch, T } from '../helpers/wire';

function out(o: Partial<OutEnvelope> & { type: MessageType }): OutEnvelope {
  return {
    flags: 0,
    encoding: Encoding.None,
    id: 0,
    pattern: undefined,
    metadata: undefined,
    payload: Buffer.alloc(0),
    ...o,
  };
}

const request = (id: number) =>
  out({ type: MessageType.Request, id, encoding: Encoding.Json, pattern: Buffer.from('sum'), payload: json([id, id]) });

describe('packing', () => {
  it('packs envelopes as u16 header length, header, u32 payload length, payload', () => {
    const envs = [
      request(1),
      out({
        type: MessageType.Event,
        encoding: Encoding.Json,
        pattern: Buffer.from('audit'),
        metadata: json({ t: 'x' }),
        payload: json('a'),
      }),
      out({ type: MessageType.End, id: 7 }),
    ];
    const expected = packBatch([
      [header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern: 'sum' }), json([1, 1])],
      [header(T.EVENT, { enc: ENC.JSON, pattern: 'audit', meta: '{"t":"x"}' }), json('a')],
      [header(T.END, { id: 7 }), Buffer.alloc(0)],
    ]);
    expect(packEnvelopes(envs)).toEqual(expected);
  });

  it('has a fixed BATCH header: version 1, type 12, RAW, nothing else', () => {
    expect(BATCH_HEADER).toEqual(header(BATCH, { enc: ENC.RAW }));
  });

  it('round-trips through unpackMessage and decodeEnvelope', () => {
    const envs = [
      request(1),
      out({ type: MessageType.Chunk, id: 2, encoding: Encoding.Text, payload: 'ü ✓' }),
      out({ type: MessageType.Chunk, id: 3, flags: 1, encoding: Encoding.Raw, payload: Buffer.from([1, 2]) }),
    ];
    const frames: Buffer[] = [Buffer.from('rid')];
    appendEnvelopeFrames(envs, frames);
    expect(frames).toHaveLength(3);
    const pairs = unpackMessage(frames, 1);
    expect(pairs).toHaveLength(1 + 2 * 3);
    expect(pairs[0]).toEqual(Buffer.from('rid'));
    const decoded = [1, 3, 5].map(i => decodeEnvelope(pairs[i]!, pairs[i + 1]!, 1 << 20));
    expect(decoded.map(e => [e.type, e.id, e.pattern, e.flags])).toEqual([
      [MessageType.Request, 1, 'sum', 0],
      [MessageType.Chunk, 2, undefined, 0],
      [MessageType.Chunk, 3, undefined, 1],
    ]);
    expect(decoded[1]!.payload.toString('utf8')).toBe('ü ✓');
    expect(decoded[2]!.payload).toEqual(Buffer.from([1, 2]));
  });
});

describe('unpackMessage', () => {
  const ping = () => [header(T.PING), Buffer.alloc(0)];

  it('returns the very same array when there is no BATCH', () => {
    const frames = [...ping(), ...ping()];
    expect(unpackMessage(frames, 0)).toBe(frames);
  });

  it('returns a message with an odd frame count unchanged (it is dropped whole)', () => {
    const frames = [BATCH_HEADER, packBatch([ping() as [Buffer, Buffer]]), header(T.PING)];
    expect(unpackMessage(frames, 0)).toBe(frames);
  });

  it('unpacks each BATCH in place, keeping the order of the message', () => {
    const frames = [
      header(T.PONG),
      Buffer.alloc(0),
      BATCH_HEADER,
      packBatch([
        [header(T.END, { id: 1 }), Buffer.alloc(0)],
        [header(T.END, { id: 2 }), Buffer.alloc(0)],
      ]),
      header(T.END, { id: 3 }),
      Buffer.alloc(0),
    ];
    const pairs = unpackMessage(frames, 0);
    expect([0, 2, 4, 6].map(i => [pairs[i]![1], pairs[i]!.readUInt32BE(4)])).toEqual([
      [T.PONG, 0],
      [T.END, 1],
      [T.END, 2],
      [T.END, 3],
    ]);
  });

  const good = packBatch([
    [header(T.END, { id: 1 }), Buffer.alloc(0)],
    [header(T.END, { id: 2 }), Buffer.from('x')],
  ]);
  const bad: Array<[string, Buffer, Buffer]> = [
    ['an empty BATCH', BATCH_HEADER, Buffer.alloc(0)],
    ['a truncated header length', BATCH_HEADER, Buffer.concat([good, Buffer.from([0])])],
    ['a truncated payload', BATCH_HEADER, good.subarray(0, good.length - 1)],
    ['a truncated payload length', BATCH_HEADER, good.subarray(0, 2 + 10 + 2)],
    ['trailing bytes', BATCH_HEADER, Buffer.concat([good, Buffer.from([0, 0, 0])])],
    ['a BATCH header with a flag', header(BATCH, { enc: ENC.RAW, flags: 1 }), good],
    ['a BATCH header with encoding NONE', header(BATCH), good],
    ['a BATCH header with an id', header(BATCH, { enc: ENC.RAW, id: 5 }), good],
  ];
  it.each(bad)('leaves %s as it is, and decodeEnvelope drops it as an unknown type', (_name, h, p) => {
    const frames = [...ping(), h, p, ...ping()];
    const result = unpackMessage(frames, 0);
    expect(result).toEqual(frames);
    expect(() => decodeEnvelope(h, p, 1 << 20)).toThrow(expect.objectContaining({ reason: 'type' }) as MalformedError);
  });

  it('unpacks at most MAX_ENVELOPES_PER_MESSAGE envelopes in one message', () => {
    const end = [header(T.END, { id: 1 }), Buffer.alloc(0)] as [Buffer, Buffer];
    const full = packBatch(Array.from({ length: MAX_ENVELOPES_PER_MESSAGE - 1 }, () => end));
    expect(unpackMessage([...ping(), BATCH_HEADER, full], 0)).toHaveLength(2 * MAX_ENVELOPES_PER_MESSAGE);
    const over = [...ping(), ...ping(), BATCH_HEADER, full];
    expect(unpackMessage(over, 0)).toEqual(over);
  });
});
