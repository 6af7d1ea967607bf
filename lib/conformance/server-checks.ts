/**
 * `conformance server`: the checks of a server's rules (docs/PROTOCOL.md),
 * each over connections of its own, with envelopes built byte by byte.
 */
import { randomBytes } from 'node:crypto';
import { helloProof } from '../security/hello-proof.js';
import { KitSocket, PING, type Arrival } from './peer.js';
import { type Check, expectThat, Skip } from './report.js';
import {
  batch,
  describe,
  EMPTY,
  ENC,
  FLAG,
  grant,
  header,
  json,
  objectOf,
  type Pair,
  type Seen,
  T,
  valueOf,
} from './wire.js';

export interface ServerKitOptions {
  endpoint: string;
  /** A request/reply pattern whose handler returns its data. */
  echo?: string | undefined;
  /** A pattern whose handler, given n, streams n values. */
  stream?: string | undefined;
  /** Longest wait for any one answer, in ms. */
  timeoutMs: number;
  /**
   * Keep two sessions open at the end (one offering drain and bye-ack, one
   * offering nothing), print `AWAITING CLOSE`, and check what each gets when
   * the server closes within this many ms. Without it the close checks skip.
   */
  awaitCloseMs?: number | undefined;
  /** Where `AWAITING CLOSE` is written (the kit's output). */
  write?: ((line: string) => void) | undefined;
  /** Talk CURVE: the server's public key and this kit's pair. */
  curve?: { serverKey: string; publicKey: string; secretKey: string } | undefined;
}

const HEARTBEAT = { interval: 10_000, liveness: 3 };

/** One connection of the kit to the server under test. */
export class Conn {
  readonly socket: KitSocket;
  readonly id: string;
  readonly instance: string;

  constructor(
    readonly opts: ServerKitOptions,
    id?: string,
    instance?: string,
  ) {
    this.id = id ?? `conformance-${randomBytes(6).toString('hex')}`;
    this.instance = instance ?? randomBytes(6).toString('hex');
    this.socket = KitSocket.dealer(opts.endpoint, opts.curve);
  }

  /**
   * A valid HELLO payload with `extra` fields (a field set to `undefined` is
   * left out). Over CURVE it offers `curve-key` and proves the kit's key for
   * the id and instance it ends up with.
   */
  helloOf(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const { curve } = this.opts;
    const out: Record<string, unknown> = {
      version: 1,
      id: this.id,
      instance: this.instance,
      metadata: { kit: 'nestjs-zeromq conformance' },
      heartbeat: HEARTBEAT,
      ...extra,
    };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    if (curve === undefined || 'curve' in extra) return out;
    const features = Array.isArray(out.features) ? (out.features as unknown[]) : [];
    if (!('features' in extra) || Array.isArray(extra.features)) out.features = [...features, 'curve-key'];
    const id = typeof out.id === 'string' ? out.id : '';
    const instance = typeof out.instance === 'string' ? out.instance : '';
    out.curve = helloProof(curve, curve.serverKey, id, instance);
    return out;
  }

  send(...pairs: Pair[]): Promise<void> {
    return this.socket.send(pairs);
  }

  /** The next envelope from `from` on that `match` accepts. */
  async next(match: (e: Seen) => boolean, what: string, from = 0): Promise<Seen> {
    return (await this.socket.next(a => match(a.env), this.opts.timeoutMs, what, from)).env;
  }

  /** Sends a HELLO (any payload, any header) and returns the WELCOME or ERROR(0) that answers it. */
  async helloRaw(payload: Buffer, h: Buffer = header(T.HELLO, { enc: ENC.JSON })): Promise<Seen> {
    const mark = this.socket.mark;
    await this.send([h, payload]);
    return this.next(e => e.type === T.WELCOME || (e.type === T.ERROR && e.id === 0), 'WELCOME or ERROR(0)', mark);
  }

  /** A session offering `features`: the WELCOME payload; fails the check on a refusal. */
  async session(features: string[] = [], extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const answer = await this.helloRaw(json(this.helloOf({ features, ...extra })));
    expectThat(answer.type === T.WELCOME, `a valid HELLO got ${describe(answer)}`);
    const welcome = objectOf(answer);
    expectThat(welcome !== undefined, 'the WELCOME payload is not a JSON object');
    return welcome;
  }

  private barriers = 0x7fff0000;

  /**
   * A round trip on the session: a REQUEST of a pattern no server has, whose
   * NO_HANDLER answer (S-12) comes after everything the server sent in answer
   * to what came before it. Returns that answer's index.
   */
  async barrier(): Promise<number> {
    const id = ++this.barriers;
    const mark = this.socket.mark;
    await this.send([
      header(T.REQUEST, { id, pattern: `conformance/barrier-${randomBytes(4).toString('hex')}`, enc: ENC.NONE }),
      EMPTY,
    ]);
    const answer = await this.socket.next(
      a => a.env.id === id,
      this.opts.timeoutMs,
      `the answer to request ${id}`,
      mark,
    );
    return this.socket.received.indexOf(answer);
  }

  /** Envelopes received in [from, to) that `match` accepts. */
  between(from: number, to: number, match: (e: Seen) => boolean): Seen[] {
    return this.socket.received
      .slice(from, to)
      .map((a: Arrival) => a.env)
      .filter(match);
  }

  close(): void {
    this.socket.close();
  }
}

/** Runs `fn` with fresh connections, closing them after. */
async function withConns<T>(opts: ServerKitOptions, n: number, fn: (...c: Conn[]) => Promise<T>): Promise<T> {
  const conns = Array.from({ length: n }, () => new Conn(opts));
  try {
    return await fn(...conns);
  } finally {
    for (const c of conns) c.close();
  }
}

/** Fails unless `e` is `ERROR(0)` with every field S-5 names and `code`. */
function expectRefusal(e: Seen, code: string, what: string): void {
  expectThat(e.type === T.ERROR && e.id === 0, `${what}: got ${describe(e)} (ERROR(0) ${code} expected)`);
  expectThat(e.version === 1, `${what}: the refusal's header says version ${e.version}`);
  const v = objectOf(e);
  expectThat(v !== undefined && v.code === code, `${what}: got ${describe(e)} (code ${code} expected)`);
  expectThat(
    v.status === 'error' && typeof v.message === 'string' && v.version === 1,
    `${what}: ${describe(e)} lacks status, message or version 1`,
  );
}

/** Fails unless `e` is `ERROR(id)` with `code`. */
function expectError(e: Seen, id: number, code: string, what: string): Record<string, unknown> {
  const v = objectOf(e);
  expectThat(e.type === T.ERROR && e.id === id && v?.code === code, `${what}: got ${describe(e)} (${code} expected)`);
  return v;
}

const pattern = (opts: ServerKitOptions) => opts.echo ?? `conformance/none-${randomBytes(4).toString('hex')}`;
const needEcho = (opts: ServerKitOptions): string => {
  if (opts.echo === undefined) throw new Skip('needs --echo <pattern>');
  return opts.echo;
};
const needStream = (opts: ServerKitOptions): string => {
  if (opts.stream === undefined) throw new Skip('needs --stream <pattern>');
  return opts.stream;
};

const request = (id: number, p: string, payload: Buffer = json(null), o: Parameters<typeof header>[1] = {}): Pair => [
  header(T.REQUEST, { id, pattern: p, enc: payload.length === 0 ? ENC.NONE : ENC.JSON, ...o }),
  payload,
];
const forId = (id: number) => (e: Seen) =>
  e.id === id && (e.type === T.CHUNK || e.type === T.END || e.type === T.ERROR);
const isLast = (e: Seen) =>
  e.type === T.END || e.type === T.ERROR || (e.type === T.CHUNK && (e.flags & FLAG.END) !== 0);

/** The reply sequence of call `id` (S-10): its CHUNK values and how it ended. */
async function replyOf(c: Conn, id: number, from: number): Promise<{ values: unknown[]; last: Seen }> {
  const values: unknown[] = [];
  let at = from;
  for (;;) {
    const e = await c.next(forId(id), `the reply to request ${id}`, at);
    at = c.socket.received.findIndex((a, i) => i >= at && a.env === e) + 1;
    if (e.type === T.CHUNK) values.push(valueOf(e));
    if (isLast(e)) return { values, last: e };
  }
}

/** Waits until `n` PONGs arrived from index `from` on. */
async function pongs(c: Conn, n: number, from: number): Promise<void> {
  let seen = 0;
  await c.socket.next(a => a.env.type === T.PONG && ++seen === n, c.opts.timeoutMs, `${n} PONGs`, from);
}

/** Waits until `n` CHUNKs of call `id` arrived from index `from` on. */
async function chunks(c: Conn, id: number, n: number, from: number): Promise<void> {
  let seen = 0;
  await c.socket.next(
    a => a.env.id === id && a.env.type === T.CHUNK && ++seen === n,
    c.opts.timeoutMs,
    `${n} CHUNKs of call ${id}`,
    from,
  );
}

/** A session with `credit` (and `more`), window `window`; skips when the server does not take credit. */
async function creditSession(c: Conn, window: number, more: string[] = []): Promise<Record<string, unknown>> {
  const welcome = await c.session(['credit', ...more], { window });
  const features = Array.isArray(welcome.features) ? (welcome.features as string[]) : [];
  if (!features.includes('credit')) throw new Skip('the server does not take the credit feature');
  for (const f of more) if (!features.includes(f)) throw new Skip(`the server does not take the ${f} feature`);
  return welcome;
}

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

export const SERVER_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
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
            (Array.isArray(f) && f.every(x => x === 'bye-ack' || (opts.curve !== undefined && x === 'curve-key'))),
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
        const extra = c.between(before, pong, e => e.type !== T.WELCOME && e.type !== T.PONG && e.type !== T.PING);
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

/** What two sessions saw of a server's close: DRAIN and BYE on each, in order. */
interface CloseSeen {
  drained: boolean;
  tookDrain: boolean;
  drainBeforeBye: boolean;
  plainDrained: boolean;
}

let closeSeen: Promise<CloseSeen> | undefined;

/** Opens the two sessions, says AWAITING CLOSE, and waits for both BYEs (once per run). */
function watchClose(opts: ServerKitOptions): Promise<CloseSeen> {
  closeSeen ??= withConns(opts, 2, async (rich, plain) => {
    const w = await rich.session(['drain', 'bye-ack']);
    await plain.session();
    const tookDrain = Array.isArray(w.features) && w.features.includes('drain');
    const [richMark, plainMark] = [rich.socket.mark, plain.socket.mark];
    opts.write?.('AWAITING CLOSE\n');
    const ms = opts.awaitCloseMs!;
    let drainAt = -1;
    if (tookDrain) {
      const drain = await rich.socket.next(a => a.env.type === T.DRAIN || a.env.type === T.BYE, ms, 'DRAIN', richMark);
      if (drain.env.type === T.DRAIN) {
        drainAt = rich.socket.received.indexOf(drain);
        await rich.send([header(T.DRAIN), EMPTY]);
      }
    }
    const bye = await rich.socket.next(a => a.env.type === T.BYE, ms, 'BYE on the session with drain', richMark);
    await rich.send([header(T.BYE), EMPTY]);
    await plain.socket.next(a => a.env.type === T.BYE, ms, 'BYE on the session without features', plainMark);
    const plainDrained = plain.between(plainMark, plain.socket.mark, e => e.type === T.DRAIN).length > 0;
    const byeAt = rich.socket.received.indexOf(bye);
    return { drained: drainAt >= 0, tookDrain, drainBeforeBye: drainAt >= 0 && drainAt < byeAt, plainDrained };
  });
  return closeSeen;
}

const needClose = (opts: ServerKitOptions): void => {
  if (opts.awaitCloseMs === undefined) throw new Skip('needs the server to close during the run (--await-close <ms>)');
};

/** The checks of a server's close: they run last, and wait for it. */
export const CLOSE_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  {
    id: 'S-27',
    title: 'a closing server says BYE on every session, with bye-ack or without',
    run: async opts => {
      needClose(opts);
      await watchClose(opts);
    },
  },
  {
    id: 'S-19',
    title: 'a closing server says DRAIN before BYE where drain was agreed, and nowhere else',
    run: async opts => {
      needClose(opts);
      const seen = await watchClose(opts);
      expectThat(!seen.plainDrained, 'DRAIN on a session that did not agree on drain');
      if (!seen.tookDrain) throw new Skip('the server does not take the drain feature');
      expectThat(seen.drainBeforeBye, 'no DRAIN before the BYE');
    },
  },
];

/** Forgets what a previous run saw of a close. */
export function resetCloseWatch(): void {
  closeSeen = undefined;
}
