/**
 * The server checks of calls: request and reply, metadata, events, drain answers, streams and credit,
 * request streams, cancel and deadlines (docs/PROTOCOL.md §5, §6).
 */
import { type Check, expectThat, Skip } from './report.js';
import {
  chunks,
  creditSession,
  expectError,
  forId,
  needEcho,
  needStream,
  pattern,
  replyOf,
  request,
  type ServerKitOptions,
  withConns,
} from './server-conn.js';
import { describe, EMPTY, ENC, FLAG, grant, header, json, T, type Pair } from './wire.js';

export const CALL_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  {
    id: 'S-17',
    title: 'a call whose traceparent cannot be parsed is served',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needEcho(opts);
        await c.session();
        const mark = c.socket.mark;
        await c.send(request(41, p, json(41), { meta: JSON.stringify({ traceparent: 'not-a-traceparent' }) }));
        const { last } = await replyOf(c, 41, mark);
        expectThat(last.type !== T.ERROR, `got ${describe(last)}`);
      }),
  },
  {
    id: 'S-14',
    title: 'an EVENT is never answered',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send([header(T.EVENT, { pattern: pattern(opts), enc: ENC.JSON }), json(1)]);
        const pong = await c.barrier();
        const got = c.between(mark, pong, e => e.type !== T.PING);
        expectThat(got.length === 0, `answered: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'W-12',
    title: 'an envelope of unknown type is dropped and the session goes on',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send([header(99), EMPTY]);
        const pong = await c.barrier();
        const got = c.between(mark, pong, e => e.type !== T.PING);
        expectThat(got.length === 0, `answered: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'W-21',
    title: 'a CREDIT for a call not in progress is dropped',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send([header(T.CREDIT, { id: 4242, enc: ENC.RAW }), grant(5)]);
        const pong = await c.barrier();
        const got = c.between(mark, pong, e => e.type !== T.PING);
        expectThat(got.length === 0, `answered: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'S-26',
    title: 'a CHUNK or END for no request stream is dropped',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send([header(T.CHUNK, { id: 77, enc: ENC.JSON }), json(1)], [header(T.END, { id: 77 }), EMPTY]);
        const pong = await c.barrier();
        const got = c.between(mark, pong, e => e.type !== T.PING);
        expectThat(got.length === 0, `answered: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'S-24',
    title: 'a STREAM REQUEST on a session without credit is answered STREAM_UNSUPPORTED',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session();
        const mark = c.socket.mark;
        await c.send([header(T.REQUEST, { id: 51, pattern: pattern(opts), flags: FLAG.STREAM }), EMPTY]);
        expectError(await c.next(forId(51), 'a reply', mark), 51, 'STREAM_UNSUPPORTED', 'a STREAM REQUEST');
      }),
  },
  {
    id: 'S-21',
    title: 'a DRAIN from a client while the server is not draining is dropped',
    run: opts =>
      withConns(opts, 1, async c => {
        await c.session(['drain']);
        const mark = c.socket.mark;
        await c.send([header(T.DRAIN), EMPTY]);
        const pong = await c.barrier();
        const got = c.between(mark, pong, e => e.type !== T.PING);
        expectThat(got.length === 0, `answered: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'W-29',
    title: 'under bye-ack a BYE is answered with a BYE and ends the session',
    run: opts =>
      withConns(opts, 1, async c => {
        const w = await c.session(['bye-ack']);
        if (!(Array.isArray(w.features) && w.features.includes('bye-ack')))
          throw new Skip('the server does not take the bye-ack feature');
        let mark = c.socket.mark;
        await c.send([header(T.BYE), EMPTY]);
        await c.next(e => e.type === T.BYE, 'BYE', mark);
        mark = c.socket.mark;
        await c.send(request(61, pattern(opts), json(1)));
        expectError(await c.next(forId(61), 'a reply', mark), 61, 'NOT_READY', 'a REQUEST after BYE');
      }),
  },
  {
    id: 'W-19',
    title: 'a reply stream carries no CHUNK beyond the credit',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needStream(opts);
        await creditSession(c, 2);
        const mark = c.socket.mark;
        await c.send(request(71, p, json(5)));
        await chunks(c, 71, 2, mark);
        const pong = await c.barrier();
        const sent = c.between(mark, pong, e => e.id === 71 && e.type === T.CHUNK).length;
        expectThat(sent === 2, `a window of 2: ${sent} CHUNKs before any CREDIT`);
        await c.send([header(T.CREDIT, { id: 71, enc: ENC.RAW }), grant(3)]);
        const { values, last } = await replyOf(c, 71, pong);
        expectThat(
          last.type !== T.ERROR && values.length === 3,
          `after CREDIT 3: ${values.length} values, ${describe(last)}`,
        );
      }),
  },
  {
    id: 'S-11',
    title: 'a REQUEST whose id is in progress is dropped, the first call goes on',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needStream(opts);
        await creditSession(c, 1);
        const mark = c.socket.mark;
        await c.send(request(81, p, json(3)));
        await c.next(e => e.id === 81 && e.type === T.CHUNK, 'a CHUNK', mark);
        await c.send(request(81, p, json(3)));
        const pong = await c.barrier();
        const got = c.between(mark, pong, forId(81));
        expectThat(got.length === 1, `after a duplicate REQUEST: ${got.map(describe).join(', ')}`);
        await c.send([header(T.CREDIT, { id: 81, enc: ENC.RAW }), grant(10)]);
        const { values, last } = await replyOf(c, 81, pong);
        expectThat(
          last.type !== T.ERROR && values.length === 2,
          `the first call: ${values.length} more, ${describe(last)}`,
        );
      }),
  },
  {
    id: 'S-15',
    title: 'after a CANCEL nothing more is sent for the call',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needStream(opts);
        await creditSession(c, 1);
        const mark = c.socket.mark;
        await c.send(request(91, p, json(5)));
        await c.next(e => e.id === 91 && e.type === T.CHUNK, 'a CHUNK', mark);
        await c.send([header(T.CANCEL, { id: 91 }), EMPTY]);
        const first = await c.barrier();
        await c.send([header(T.CREDIT, { id: 91, enc: ENC.RAW }), grant(10)]);
        const second = await c.barrier();
        const got = c.between(first, second, forId(91));
        expectThat(got.length === 0, `after CANCEL and a CREDIT: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'S-16',
    title: 'a renewal ends the calls of the session',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needStream(opts);
        await creditSession(c, 1);
        const mark = c.socket.mark;
        await c.send(request(93, p, json(5)));
        await c.next(e => e.id === 93 && e.type === T.CHUNK, 'a CHUNK', mark);
        await c.session(['credit'], { window: 1 });
        const first = await c.barrier();
        await c.send([header(T.CREDIT, { id: 93, enc: ENC.RAW }), grant(10)]);
        const second = await c.barrier();
        const got = c.between(first, second, forId(93));
        expectThat(got.length === 0, `after the renewal and a CREDIT: ${got.map(describe).join(', ')}`);
      }),
  },
  {
    id: 'S-25',
    title: 'a request-stream CHUNK beyond the granted window fails the call MALFORMED',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needEcho(opts);
        const welcome = await creditSession(c, 4);
        const window = welcome.window;
        expectThat(Number.isInteger(window) && (window as number) >= 1, `WELCOME window ${JSON.stringify(window)}`);
        const n = (window as number) + 1;
        if (n > 4096) throw new Skip(`a window of ${n - 1} does not fit one message`);
        const chunks: Pair[] = Array.from({ length: n }, (_, i) => [
          header(T.CHUNK, { id: 97, enc: ENC.JSON }),
          json(i),
        ]);
        const mark = c.socket.mark;
        // One message: no grant can come back between the REQUEST and the CHUNK beyond the window.
        await c.send([header(T.REQUEST, { id: 97, pattern: p, flags: FLAG.STREAM }), EMPTY], ...chunks);
        const last = await c.next(e => e.id === 97 && (e.type === T.ERROR || e.type === T.END), 'an ERROR', mark);
        expectError(last, 97, 'MALFORMED', `${n} CHUNKs over a window of ${n - 1}`);
      }),
  },
  {
    id: 'S-18',
    title: 'a call whose deadline passed is ended, nothing more sent for it',
    run: opts =>
      withConns(opts, 1, async c => {
        const p = needStream(opts);
        await creditSession(c, 1, ['deadline']);
        const deadline = Math.max(100, Math.min(500, Math.floor(opts.timeoutMs / 4)));
        const mark = c.socket.mark;
        await c.send(request(95, p, json(5), { deadline }));
        await c.next(e => e.id === 95 && e.type === T.CHUNK, 'a CHUNK', mark);
        // The wait restarts at each CHUNK (S-18): three times the deadline after the first, it has passed.
        await new Promise(resolve => setTimeout(resolve, 3 * deadline));
        const first = await c.barrier();
        await c.send([header(T.CREDIT, { id: 95, enc: ENC.RAW }), grant(10)]);
        const second = await c.barrier();
        const got = c.between(first, second, forId(95));
        expectThat(
          got.length === 0,
          `${3 * deadline} ms after a ${deadline} ms deadline, a CREDIT got: ${got.map(describe).join(', ')}`,
        );
      }),
  },
];
