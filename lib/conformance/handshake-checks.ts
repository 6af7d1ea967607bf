/**
 * The server checks of the handshake: HELLO and WELCOME, refusals, renewal, handover, NOT_READY,
 * liveness answers (docs/PROTOCOL.md §4, §10).
 */
import { randomBytes } from 'node:crypto';
import { PING } from './peer.js';
import { type Check, expectThat } from './report.js';
import {
  Conn,
  expectError,
  expectRefusal,
  forId,
  needEcho,
  pattern,
  pongs,
  replyOf,
  request,
  type ServerKitOptions,
  withConns,
} from './server-conn.js';
import { describe, EMPTY, ENC, header, json, objectOf, type Seen, T } from './wire.js';

const INVALID_HELLOS: Array<[string, (c: Conn) => Buffer]> = [
  ['a payload that is not JSON', () => Buffer.from('{', 'utf8')],
  ['a JSON array', () => json([])],
  ['no id', c => json(c.helloOf({ id: undefined }))],
  ['an empty id', c => json(c.helloOf({ id: '' }))],
  ['an id of 257 characters', c => json(c.helloOf({ id: 'x'.repeat(257) }))],
  ['no heartbeat', c => json(c.helloOf({ heartbeat: undefined }))],
  ['a heartbeat interval of 0', c => json(c.helloOf({ heartbeat: { interval: 0, liveness: 3 } }))],
  ['a heartbeat liveness as a string', c => json(c.helloOf({ heartbeat: { interval: 1000, liveness: '3' } }))],
  ['version "1" as a string', c => json(c.helloOf({ version: '1' }))],
  ['metadata that is not an object', c => json(c.helloOf({ metadata: 5 }))],
  ['features that are not an array', c => json(c.helloOf({ features: 'bye-ack' }))],
  ['33 features', c => json(c.helloOf({ features: Array.from({ length: 33 }, (_, i) => `f${i}`) }))],
  ['a window of 0', c => json(c.helloOf({ features: ['credit'], window: 0 }))],
  ['a fractional window without credit', c => json(c.helloOf({ window: 1.5 }))],
  ['an instance of 257 characters', c => json(c.helloOf({ instance: 'x'.repeat(257) }))],
];

export const HANDSHAKE_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  {
    id: 'S-3',
    title: 'a valid HELLO gets a WELCOME with version, id, heartbeat, patterns, events and offered features only',
    run: opts =>
      withConns(opts, 1, async c => {
        const w = await c.session(['bye-ack', 'conformance-unknown-feature']);
        expectThat(w.version === 1, `WELCOME version ${JSON.stringify(w.version)}`);
        expectThat(typeof w.id === 'string', 'WELCOME without an id');
        const hb = w.heartbeat as Record<string, unknown> | undefined;
        expectThat(typeof hb?.interval === 'number' && typeof hb.liveness === 'number', 'WELCOME heartbeat invalid');
        expectThat(Array.isArray(w.patterns) && Array.isArray(w.events), 'WELCOME without patterns or events');
        const f = w.features;
        expectThat(
          f === undefined ||
            (Array.isArray(f) &&
              f.every(
                x => x === 'bye-ack' || (opts.curve !== undefined && (x === 'curve-key' || x === 'curve-key-2')),
              )),
          `WELCOME features ${JSON.stringify(f)} beyond the offer`,
        );
      }),
  },
  {
    id: 'S-3',
    title: 'a HELLO offering credit without a window does not get credit',
    run: opts =>
      withConns(opts, 1, async c => {
        const w = await c.session(['credit']);
        const f = Array.isArray(w.features) ? w.features : [];
        expectThat(!f.includes('credit'), `WELCOME features ${JSON.stringify(w.features)} accept credit`);
      }),
  },
  {
    id: 'S-1',
    title: 'a HELLO without optional fields, with fractional heartbeat values or unknown fields is welcomed',
    run: async opts => {
      const cases: Array<[string, (c: Conn) => Record<string, unknown>]> = [
        ['only version, id and heartbeat', c => c.helloOf({ metadata: undefined, instance: undefined })],
        ['a fractional heartbeat', c => c.helloOf({ heartbeat: { interval: 1500.5, liveness: 2.5 } })],
        ['an unknown field', c => c.helloOf({ 'conformance-extra': { a: [1] } })],
      ];
      for (const [what, hello] of cases) {
        await withConns(opts, 1, async c => {
          const e = await c.helloRaw(json(hello(c)));
          expectThat(e.type === T.WELCOME, `${what}: got ${describe(e)}`);
        });
      }
    },
  },
  {
    id: 'S-1',
    title: 'an invalid HELLO is refused HANDSHAKE_REFUSED',
    run: async opts => {
      const cases = [...INVALID_HELLOS];
      if (opts.curve === undefined)
        cases.push(['a malformed curve field', c => json(c.helloOf({ curve: { key: 1 } }))]);
      for (const [what, payload] of cases) {
        await withConns(opts, 1, async c => expectRefusal(await c.helloRaw(payload(c)), 'HANDSHAKE_REFUSED', what));
      }
    },
  },
  {
    id: 'S-2',
    title: 'a malformed HELLO envelope is refused HANDSHAKE_REFUSED',
    run: async opts => {
      const cases: Array<[string, Buffer, (c: Conn) => Buffer]> = [
        ['a HELLO with a request id', header(T.HELLO, { enc: ENC.JSON, id: 5 }), c => json(c.helloOf())],
        [
          'trailing header bytes',
          Buffer.concat([header(T.HELLO, { enc: ENC.JSON }), Buffer.from([0])]),
          c => json(c.helloOf()),
        ],
      ];
      for (const [what, h, payload] of cases) {
        await withConns(opts, 1, async c => expectRefusal(await c.helloRaw(payload(c), h), 'HANDSHAKE_REFUSED', what));
      }
    },
  },
  {
    id: 'W-26',
    title: 'a HELLO payload over 256 KiB is refused HANDSHAKE_REFUSED',
    run: opts =>
      withConns(opts, 1, async c => {
        const big = json(c.helloOf({ metadata: { pad: 'x'.repeat(256 * 1024) } }));
        expectRefusal(await c.helloRaw(big), 'HANDSHAKE_REFUSED', 'a HELLO of 256 KiB and more');
      }),
  },
  {
    id: 'S-4',
    title: 'a HELLO of another version is refused VERSION_MISMATCH in the server own version',
    run: async opts => {
      await withConns(opts, 1, async c => {
        const e = await c.helloRaw(json(c.helloOf({ version: 2 })), header(T.HELLO, { enc: ENC.JSON, version: 2 }));
        expectRefusal(e, 'VERSION_MISMATCH', 'header version 2');
      });
      await withConns(opts, 1, async c => {
        expectRefusal(await c.helloRaw(json(c.helloOf({ version: 2 }))), 'VERSION_MISMATCH', 'payload version 2');
      });
    },
  },
  {
    id: 'S-9',
    title: 'before the handshake a REQUEST gets ERROR(id) NOT_READY, a PING ERROR(0) NOT_READY, the rest nothing',
    run: opts =>
      withConns(opts, 1, async c => {
        const mark = c.socket.mark;
        await c.send(request(7, pattern(opts), json([1])));
        expectError(await c.next(e => e.type === T.ERROR && e.id === 7, 'ERROR(7)', mark), 7, 'NOT_READY', 'REQUEST');
        await c.send(PING);
        expectRefusal(
          await c.next(e => (e.type === T.ERROR && e.id === 0) || e.type === T.PONG, 'an answer to PING', mark),
          'NOT_READY',
          'PING before HELLO',
        );
        const before = c.socket.mark;
        await c.send(
          [header(T.EVENT, { pattern: pattern(opts), enc: ENC.JSON }), json(1)],
          [header(T.CANCEL, { id: 7 }), EMPTY],
        );
        await c.session();
        const pong = await c.barrier();
        const handshake = (e: Seen) => e.type === T.WELCOME || e.type === T.CHALLENGE;
        const extra = c.between(before, pong, e => !handshake(e) && e.type !== T.PONG && e.type !== T.PING);
        expectThat(
          extra.length === 0,
          `an EVENT and a CANCEL before HELLO were answered: ${extra.map(describe).join(', ')}`,
        );
      }),
  },
  {
    id: 'S-5',
    title: 'every ERROR(0) carries status, code, message and version',
    run: opts =>
      withConns(opts, 1, async c => {
        const mark = c.socket.mark;
        await c.send(PING);
        expectRefusal(await c.next(e => e.type === T.ERROR, 'ERROR(0)', mark), 'NOT_READY', 'PING before HELLO');
      }),
  },
  {
    id: 'W-27',
    title: 'a PING on a session gets a PONG',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send(PING);
        await pongs(c, 1, mark);
      }),
  },
  {
    id: 'S-6',
    title: 'a second HELLO with the same id and instance renews the session',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        await c.session();
        const mark = c.socket.mark;
        await c.send(request(3, `conformance/none-${randomBytes(4).toString('hex')}`));
        const e = await c.next(forId(3), 'a reply to request 3', mark);
        expectThat(objectOf(e)?.code !== 'NOT_READY', 'the renewed session is gone: NOT_READY');
      }),
  },
  {
    id: 'S-7',
    title: 'a HELLO claiming the id of a session on another connection, with another instance, is refused',
    run: opts =>
      withConns(opts, 1, async a => {
        await a.session();
        const b = new Conn(opts, a.id);
        try {
          expectRefusal(await b.helloRaw(json(b.helloOf())), 'HANDSHAKE_REFUSED', 'an impostor');
        } finally {
          b.close();
        }
      }),
  },
  {
    id: 'S-8',
    title: 'a HELLO with the id and instance of a session on another connection takes it over',
    run: opts =>
      withConns(opts, 1, async a => {
        await a.session();
        const mark = a.socket.mark;
        const b = new Conn(opts, a.id, a.instance);
        try {
          await b.session();
          expectRefusal(
            await a.next(e => e.type === T.ERROR && e.id === 0, 'ERROR(0) on the old connection', mark),
            'HANDSHAKE_REFUSED',
            'the old connection',
          );
        } finally {
          b.close();
        }
      }),
  },
  {
    id: 'S-10',
    title: 'a REQUEST gets exactly one reply sequence, and nothing after it',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needEcho(opts);
        await c.session();
        const data = { conformance: [1, 'x', null, true] };
        const mark = c.socket.mark;
        await c.send(request(1, p, json(data)));
        const { values, last } = await replyOf(c, 1, mark);
        expectThat(last.type !== T.ERROR, `the echo failed: ${describe(last)}`);
        expectThat(
          JSON.stringify(values[values.length - 1]) === JSON.stringify(data),
          `echo returned ${JSON.stringify(values)}`,
        );
        const pong = await c.barrier();
        const after = c.between(c.socket.received.findIndex(a => a.env === last) + 1, pong, forId(1));
        expectThat(after.length === 0, `after the reply ended: ${after.map(describe).join(', ')}`);
      }),
  },
];
