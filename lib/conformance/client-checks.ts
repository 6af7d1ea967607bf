/**
 * `conformance client`: a checking server (its own ROUTER) that welcomes the
 * first client to connect, serves it three patterns, and judges what it
 * sends (docs/PROTOCOL.md §13.1).
 */
import { KitSocket, type Arrival } from './peer.js';
import { type Check, expectThat, runChecks, Skip, summaryOf, type Verdict } from './report.js';
import { describe, EMPTY, ENC, FLAG, header, json, objectOf, type Pair, type Seen, T } from './wire.js';

export interface ClientKitOptions {
  /** Where the checking server binds (`tcp://127.0.0.1:*` by default). */
  bind: string;
  /** Longest wait for any one answer, in ms. */
  timeoutMs: number;
  /** How long the client has to connect and use the patterns, in ms. */
  waitMs: number;
}

/** The patterns the checking server offers. */
export const KIT_PATTERNS = {
  echo: 'conformance/echo',
  stream: 'conformance/stream',
  hang: 'conformance/hang',
} as const;

/** What the checking server saw of the client. */
export interface ClientObservations {
  hello: Record<string, unknown> | undefined;
  helloProblem: string | undefined;
  /** Envelopes the client sent before the WELCOME, HELLO aside. */
  beforeWelcome: Seen[];
  agreed: string[];
  window: number;
  pong: boolean | undefined;
  /** Rule breaches seen while serving: [rule, what]. */
  breaches: Array<[string, string]>;
  echoed: number;
  streamed: { requested: number; completed: number; credits: number };
  hangs: number;
  cancelled: number;
  drainAnswered: boolean | undefined;
  byeAnswered: boolean | undefined;
}

const HELLO_REQUIRED = ['version', 'id', 'heartbeat'];

/** Why a HELLO breaks §4.1, or `undefined`. */
function helloProblem(h: Record<string, unknown> | undefined): string | undefined {
  if (h === undefined) return 'the HELLO payload is not a JSON object';
  for (const f of HELLO_REQUIRED) if (!(f in h)) return `the HELLO has no ${f}`;
  if (h.version !== 1) return `version ${JSON.stringify(h.version)}`;
  if (typeof h.id !== 'string' || h.id.length < 1 || h.id.length > 256) return 'id is not a string of 1-256 characters';
  const hb = h.heartbeat as Record<string, unknown> | undefined;
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!positive(hb?.interval) || !positive(hb?.liveness)) return 'heartbeat is not { interval, liveness } > 0';
  if (h.metadata !== undefined && (typeof h.metadata !== 'object' || h.metadata === null || Array.isArray(h.metadata)))
    return 'metadata is not an object';
  if (h.instance !== undefined && (typeof h.instance !== 'string' || h.instance.length > 256))
    return 'instance is not a string of at most 256 characters';
  const f = h.features;
  if (f !== undefined) {
    if (!Array.isArray(f) || f.length > 32 || !f.every(x => typeof x === 'string' && x.length >= 1 && x.length <= 64))
      return 'features is not an array of at most 32 names of 1-64 characters';
    if (f.includes('credit') && !(Number.isInteger(h.window) && (h.window as number) >= 1))
      return 'credit offered without a valid window';
  }
  return undefined;
}

/** Serves one client and records what it does. */
async function observe(opts: ClientKitOptions, write: (line: string) => void): Promise<ClientObservations> {
  const { socket, endpoint } = await KitSocket.router(opts.bind);
  write(`LISTENING ${endpoint}\n`);
  const obs: ClientObservations = {
    hello: undefined,
    helloProblem: undefined,
    beforeWelcome: [],
    agreed: [],
    window: 2,
    pong: undefined,
    breaches: [],
    echoed: 0,
    streamed: { requested: 0, completed: 0, credits: 0 },
    hangs: 0,
    cancelled: 0,
    drainAnswered: undefined,
    byeAnswered: undefined,
  };
  try {
    const first = await socket.next(a => a.env.type === T.HELLO, opts.waitMs, 'HELLO from a client');
    const client = first.routingId!;
    const fromClient = (a: Arrival) => a.routingId?.equals(client) === true;
    obs.hello = objectOf(first.env);
    obs.helloProblem = helloProblem(obs.hello);
    const offered = Array.isArray(obs.hello?.features) ? (obs.hello.features as string[]) : [];
    obs.agreed = ['bye-ack', 'drain', 'deadline', 'credit'].filter(f => offered.includes(f));
    if (obs.agreed.includes('credit') && !Number.isInteger(obs.hello?.window))
      obs.agreed.splice(obs.agreed.indexOf('credit'), 1);
    // A moment before the WELCOME shows whether the client sends anything it may not send yet (C-1).
    const helloAt = socket.received.indexOf(first);
    await new Promise(resolve => setTimeout(resolve, Math.min(500, opts.timeoutMs / 4)));
    const send = (...pairs: Pair[]) => socket.send(pairs, client);
    await send([
      header(T.WELCOME, { enc: ENC.JSON }),
      json({
        version: 1,
        id: 'conformance-kit',
        instance: 'conformance-kit',
        metadata: {},
        heartbeat: { interval: 10_000, liveness: 3 },
        patterns: Object.values(KIT_PATTERNS),
        events: [],
        ...(obs.agreed.length > 0 ? { features: obs.agreed } : {}),
        ...(obs.agreed.includes('credit') ? { window: obs.window } : {}),
      }),
    ]);
    const welcomedAt = socket.mark;
    obs.beforeWelcome = socket.received
      .slice(helloAt + 1, welcomedAt)
      .filter(a => fromClient(a) && a.env.type !== T.HELLO && a.env.type !== T.PONG)
      .map(a => a.env);
    let mark = socket.mark;
    await send([header(T.PING), EMPTY]);
    obs.pong = await socket
      .next(a => fromClient(a) && a.env.type === T.PONG, opts.timeoutMs, 'PONG', mark)
      .then(
        () => true,
        () => false,
      );
    await serve(socket, client, obs, opts, welcomedAt);
    if (obs.agreed.includes('drain')) {
      mark = socket.mark;
      await send([header(T.DRAIN), EMPTY]);
      obs.drainAnswered = await socket
        .next(a => fromClient(a) && a.env.type === T.DRAIN, opts.timeoutMs, 'DRAIN', mark)
        .then(
          () => true,
          () => false,
        );
    }
    if (obs.agreed.includes('bye-ack')) {
      mark = socket.mark;
      await send([header(T.BYE), EMPTY]);
      obs.byeAnswered = await socket
        .next(a => fromClient(a) && a.env.type === T.BYE, opts.timeoutMs, 'BYE', mark)
        .then(
          () => true,
          () => false,
        );
    }
  } finally {
    socket.close();
  }
  return obs;
}

/** Answers the client's requests until it used every pattern (or `waitMs` passed), recording breaches. */
async function serve(
  socket: KitSocket,
  client: Buffer,
  obs: ClientObservations,
  opts: ClientKitOptions,
  from: number,
): Promise<void> {
  const send = (...pairs: Pair[]) => socket.send(pairs, client);
  const pending = new Set<number>();
  const streams = new Map<number, { left: number; credit: number; next: number }>();
  const credit = obs.agreed.includes('credit');
  const until = Date.now() + opts.waitMs;
  const pump = async (id: number) => {
    const s = streams.get(id)!;
    const pairs: Pair[] = [];
    while (s.left > 0 && (!credit || s.credit > 0)) {
      s.left--;
      s.credit--;
      pairs.push([header(T.CHUNK, { id, enc: ENC.JSON }), json(s.next++)]);
    }
    if (s.left === 0) {
      pairs.push([header(T.END, { id }), EMPTY]);
      streams.delete(id);
      pending.delete(id);
      obs.streamed.completed++;
    }
    if (pairs.length > 0) await send(...pairs);
  };
  let at = from;
  while (obs.echoed === 0 || obs.streamed.completed === 0 || obs.cancelled === 0) {
    const left = until - Date.now();
    if (left <= 0) return;
    let a: Arrival;
    try {
      a = await socket.next(x => x.routingId?.equals(client) === true, left, 'a message', at);
    } catch {
      return;
    }
    at = socket.received.indexOf(a) + 1;
    const e = a.env;
    if (e.problem !== undefined) obs.breaches.push(['W-10', `${describe(e)}: ${e.problem}`]);
    if (e.type === T.REQUEST) {
      if (pending.has(e.id)) obs.breaches.push(['C-6', `request id ${e.id} reused while pending`]);
      if (e.flags & FLAG.DEADLINE && !obs.agreed.includes('deadline'))
        obs.breaches.push(['C-11', `flag DEADLINE on request ${e.id} without the deadline feature`]);
      if (e.flags & FLAG.STREAM && !credit)
        obs.breaches.push(['C-13', `flag STREAM on request ${e.id} without the credit feature`]);
      pending.add(e.id);
      if (e.pattern === KIT_PATTERNS.echo) {
        obs.echoed++;
        pending.delete(e.id);
        await send([header(T.CHUNK, { id: e.id, enc: e.enc, flags: FLAG.END }), e.payload]);
      } else if (e.pattern === KIT_PATTERNS.stream) {
        obs.streamed.requested++;
        let n = 0;
        try {
          n = Number(JSON.parse(e.payload.toString('utf8')));
        } catch {
          n = 0;
        }
        streams.set(e.id, { left: Math.max(0, Math.min(10_000, Math.floor(n) || 0)), credit: obs.window, next: 0 });
        await pump(e.id);
      } else if (e.pattern === KIT_PATTERNS.hang) {
        obs.hangs++;
      } else {
        obs.breaches.push(['C-1', `a REQUEST for ${JSON.stringify(e.pattern)}, which the WELCOME did not list`]);
        pending.delete(e.id);
        await send([
          header(T.ERROR, { id: e.id, enc: ENC.JSON }),
          json({ status: 'error', code: 'NO_HANDLER', message: 'not served' }),
        ]);
      }
    } else if (e.type === T.CANCEL) {
      if (pending.delete(e.id)) obs.cancelled++;
      streams.delete(e.id);
    } else if (e.type === T.CREDIT) {
      const s = streams.get(e.id);
      obs.streamed.credits++;
      if (s !== undefined) {
        s.credit += e.payload.length === 4 ? e.payload.readUInt32BE(0) : 0;
        await pump(e.id);
      }
    } else if (e.type === T.PING) {
      await send([header(T.PONG), EMPTY]);
    }
  }
}

const skipUnless = (ok: boolean, why: string) => {
  if (!ok) throw new Skip(why);
};
const noBreach = (obs: ClientObservations, id: string) => {
  const mine = obs.breaches.filter(([rule]) => rule === id).map(([, what]) => what);
  expectThat(mine.length === 0, mine.join('; '));
};

export const CLIENT_CHECKS: ReadonlyArray<Check<ClientObservations>> = [
  {
    id: 'C-14',
    title: 'the HELLO carries the required fields with valid values',
    run: async obs => expectThat(obs.helloProblem === undefined, obs.helloProblem ?? ''),
  },
  {
    id: 'C-1',
    title: 'nothing but HELLO and PONG before the WELCOME; requests only for patterns the WELCOME listed',
    run: async obs => {
      expectThat(obs.beforeWelcome.length === 0, `before the WELCOME: ${obs.beforeWelcome.map(describe).join(', ')}`);
      noBreach(obs, 'C-1');
    },
  },
  {
    id: 'W-27',
    title: 'a PING gets a PONG',
    run: async obs => expectThat(obs.pong === true, 'no PONG'),
  },
  {
    id: 'W-10',
    title: 'every header follows the header rules',
    run: async obs => noBreach(obs, 'W-10'),
  },
  {
    id: 'C-6',
    title: 'request ids are unique among the pending calls',
    run: async obs => noBreach(obs, 'C-6'),
  },
  {
    id: 'C-11',
    title: 'flag DEADLINE only where deadline was agreed',
    run: async obs => noBreach(obs, 'C-11'),
  },
  {
    id: 'C-13',
    title: 'flag STREAM only where credit was agreed',
    run: async obs => noBreach(obs, 'C-13'),
  },
  {
    id: 'C-9',
    title: `a call whose caller gave up is cancelled (${KIT_PATTERNS.hang})`,
    run: async obs => {
      skipUnless(obs.hangs > 0, `the client sent no ${KIT_PATTERNS.hang} request`);
      expectThat(obs.cancelled > 0, `no CANCEL for a ${KIT_PATTERNS.hang} request`);
    },
  },
  {
    id: 'W-20',
    title: `a reply stream longer than the window is granted credit as it is taken (${KIT_PATTERNS.stream})`,
    run: async obs => {
      skipUnless(obs.agreed.includes('credit'), 'the client did not offer credit');
      skipUnless(obs.streamed.requested > 0, `the client sent no ${KIT_PATTERNS.stream} request`);
      expectThat(obs.streamed.completed > 0, `a stream stalled: ${obs.streamed.credits} CREDITs`);
    },
  },
  {
    id: 'C-12',
    title: 'a DRAIN is answered with a DRAIN',
    run: async obs => {
      skipUnless(obs.drainAnswered !== undefined, 'the client did not offer drain');
      expectThat(obs.drainAnswered === true, 'no DRAIN answer');
    },
  },
  {
    id: 'W-29',
    title: 'under bye-ack a BYE is answered with a BYE',
    run: async obs => {
      skipUnless(obs.byeAnswered !== undefined, 'the client did not offer bye-ack');
      expectThat(obs.byeAnswered === true, 'no BYE answer');
    },
  },
];

/** Binds, judges the first client that connects, writes one line per rule and the summary. */
export async function runClientConformance(opts: ClientKitOptions, write: (line: string) => void): Promise<Verdict[]> {
  let obs: ClientObservations;
  try {
    obs = await observe(opts, write);
  } catch (err) {
    const verdict: Verdict = {
      id: 'C-14',
      title: 'a client connects and says HELLO',
      outcome: 'FAIL',
      detail: err instanceof Error ? err.message : String(err),
    };
    write(`FAIL ${verdict.id} ${verdict.title}: ${verdict.detail}\n`);
    write(summaryOf([verdict]));
    return [verdict];
  }
  const verdicts = await runChecks(CLIENT_CHECKS, obs, write);
  write(summaryOf(verdicts));
  return verdicts;
}
