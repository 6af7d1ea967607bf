/**
 * The server checks of what arrives on the wire: messages and envelopes in order, BATCH, frame counts,
 * headers, limits, payloads that do not decode (docs/PROTOCOL.md §2, §3, §9).
 */
import { randomBytes } from 'node:crypto';
import { PING } from './peer.js';
import { type Check, expectThat } from './report.js';
import {
  expectError,
  forId,
  needEcho,
  pattern,
  pongs,
  replyOf,
  request,
  type ServerKitOptions,
  withConns,
} from './server-conn.js';
import { batch, describe, EMPTY, ENC, header, json, T, type Pair } from './wire.js';

export const INPUT_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  {
    id: 'W-4',
    title: 'the envelopes of one message are processed in order, past a malformed one',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needEcho(opts);
        await c.session();
        const mark = c.socket.mark;
        await c.send(request(1, p, json(1)), [Buffer.from([1, 3, 0]), EMPTY], request(2, p, json(2)));
        await replyOf(c, 1, mark);
        await replyOf(c, 2, mark);
      }),
  },
  {
    id: 'W-6',
    title: 'a BATCH is unpacked in place',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send(batch([PING, PING]));
        await pongs(c, 2, mark);
        const end = await c.barrier();
        const n = c.between(mark, end, e => e.type === T.PONG).length;
        expectThat(n === 2, `a BATCH of two PINGs: ${n} PONGs`);
      }),
  },
  {
    id: 'W-7',
    title: 'a malformed BATCH is dropped and the rest of its message processed',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const [h, p] = batch([PING]);
        const mark = c.socket.mark;
        await c.send([h, Buffer.concat([p, Buffer.from([0])])], PING);
        await pongs(c, 1, mark);
        const end = await c.barrier();
        const n = c.between(mark, end, e => e.type === T.PONG).length;
        expectThat(n === 1, `a BATCH with a trailing byte beside a PING: ${n} PONGs (1 expected)`);
      }),
  },
  {
    id: 'W-3',
    title: 'a message with an odd number of frames is dropped whole',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.socket.sendFrames([header(T.PING), EMPTY, header(T.PING)]);
        const end = await c.barrier();
        const n = c.between(mark, end, e => e.type === T.PONG).length;
        expectThat(n === 0, `three frames (PING, empty, PING): ${n} PONGs (the message is dropped whole)`);
      }),
  },
  {
    id: 'W-8',
    title: 'a REQUEST of another version inside a session gets no reply',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send(request(9, pattern(opts), json(1), { version: 2 }));
        const pong = await c.barrier();
        const got = c.between(mark, pong, forId(9));
        expectThat(got.length === 0, `answered: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'W-10',
    title: 'a REQUEST whose header breaks the rules is answered MALFORMED',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const cases: Array<[string, Pair]> = [
          ['an unknown flag 0x40', request(11, pattern(opts), json(1), { flags: 0x40 })],
          ['a pattern of 4,097 bytes', request(12, 'p'.repeat(4097), json(1))],
          ['a deadline of 0', request(13, pattern(opts), json(1), { deadline: 0 })],
          ['trailing header bytes', [Buffer.concat([request(14, pattern(opts))[0], Buffer.from([7])]), json(1)]],
        ];
        for (const [what, pair] of cases) {
          const mark = c.socket.mark;
          const id = pair[0].readUInt32BE(4);
          await c.send(pair);
          expectError(await c.next(forId(id), `a reply to ${what}`, mark), id, 'MALFORMED', what);
        }
      }),
  },
  {
    id: 'W-11',
    title: 'a REQUEST whose metadata breaks the rules is answered MALFORMED',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const cases: Array<[string, string]> = [
          ['metadata that is not JSON', '{'],
          ['a metadata value that is not a string', '{"a":1}'],
          ['metadata of 16,385 bytes', JSON.stringify({ pad: 'x'.repeat(16_385 - 10) })],
        ];
        let id = 20;
        for (const [what, meta] of cases) {
          id++;
          const mark = c.socket.mark;
          await c.send(request(id, pattern(opts), json(1), { meta }));
          expectError(await c.next(forId(id), `a reply to ${what}`, mark), id, 'MALFORMED', what);
        }
      }),
  },
  {
    id: 'S-12',
    title: 'a REQUEST for a pattern without a handler is answered NO_HANDLER naming the pattern',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const p = `conformance/none-${randomBytes(4).toString('hex')}`;
        const mark = c.socket.mark;
        await c.send(request(5, p, json(1)));
        const v = expectError(await c.next(forId(5), 'a reply', mark), 5, 'NO_HANDLER', 'an unknown pattern');
        expectThat(v.pattern === p, `NO_HANDLER's pattern is ${JSON.stringify(v.pattern)}`);
      }),
  },
  {
    id: 'W-13',
    title: 'a REQUEST whose payload does not decode is answered MALFORMED',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needEcho(opts);
        await c.session();
        const cases: Array<[string, Pair]> = [
          ['JSON that does not parse', [header(T.REQUEST, { id: 31, pattern: p, enc: ENC.JSON }), Buffer.from('{')]],
          ['TEXT that is not UTF-8', [header(T.REQUEST, { id: 32, pattern: p, enc: ENC.TEXT }), Buffer.from([0xff])]],
          [
            'a MSGPACK payload without msgpack',
            [header(T.REQUEST, { id: 33, pattern: p, enc: ENC.MSGPACK }), Buffer.from([1])],
          ],
        ];
        for (const [what, pair] of cases) {
          const mark = c.socket.mark;
          const id = pair[0].readUInt32BE(4);
          await c.send(pair);
          expectError(await c.next(forId(id), `a reply to ${what}`, mark), id, 'MALFORMED', what);
        }
      }),
  },
];
