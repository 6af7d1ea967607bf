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

const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why the required fields of a HELLO break §4.1, or `undefined`. */
function requiredProblem(h: Record<string, unknown>): string | undefined {
  for (const f of HELLO_REQUIRED) if (!(f in h)) return `the HELLO has no ${f}`;
  if (h.version !== 1) return `version ${JSON.stringify(h.version)}`;
  if (typeof h.id !== 'string' || h.id.length < 1 || h.id.length > 256) return 'id is not a string of 1-256 characters';
  const hb = h.heartbeat as Record<string, unknown> | undefined;
  if (!positive(hb?.interval) || !positive(hb?.liveness)) return 'heartbeat is not { interval, liveness } > 0';
  return undefined;
}

/** Why the optional fields of a HELLO break §4.1, or `undefined`. */
function optionalProblem(h: Record<string, unknown>): string | undefined {
  if (h.metadata !== undefined && !isObject(h.metadata)) return 'metadata is not an object';
  if (h.instance !== undefined && (typeof h.instance !== 'string' || h.instance.length > 256))
    return 'instance is not a string of at most 256 characters';
  const f = h.features;
  if (f === undefined) return undefined;
  if (!Array.isArray(f) || f.length > 32 || !f.every(x => typeof x === 'string' && x.length >= 1 && x.length <= 64))
    return 'features is not an array of at most 32 names of 1-64 characters';
  if (f.includes('credit') && !(Number.isInteger(h.window) && (h.window as number) >= 1))
    return 'credit offered without a valid window';
  return undefined;
}

/** Why a HELLO breaks §4.1 (C-14), or `undefined`. */
function helloProblem(h: Record<string, unknown> | undefined): string | undefined {
  if (h === undefined) return 'the HELLO payload is not a JSON object';
  return requiredProblem(h) ?? optionalProblem(h);
}

function emptyObservations(): ClientObservations {
  return {
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
}

/** One reply stream the checking server sends under the client's credit. */
interface OutStream {
  left: number;
  credit: number;
  next: number;
}

/** The checking server's session with the first client that connects. */
class CheckingSession {
  readonly obs = emptyObservations();
  private readonly pending = new Set<number>();
  private readonly streams = new Map<number, OutStream>();

  constructor(
    private readonly socket: KitSocket,
    private readonly client: Buffer,
    private readonly opts: ClientKitOptions,
  ) {}

  private send(...pairs: Pair[]): Promise<void> {
    return this.socket.send(pairs, this.client);
  }

  private fromClient = (a: Arrival): boolean => a.routingId?.equals(this.client) === true;

  /** Sends `pair` and waits (bounded) for an envelope of `type` from the client: whether it came. */
  private async answered(pair: Pair, type: number, what: string): Promise<boolean> {
    const mark = this.socket.mark;
    await this.send(pair);
    return this.socket
      .next(a => this.fromClient(a) && a.env.type === type, this.opts.timeoutMs, what, mark)
      .then(
        () => true,
        () => false,
      );
  }

  /** Reads the HELLO, waits a moment (C-1), sends the WELCOME; returns the index after it. */
  async welcome(first: Arrival): Promise<number> {
    const { obs } = this;
    obs.hello = objectOf(first.env);
    obs.helloProblem = helloProblem(obs.hello);
    const offered = Array.isArray(obs.hello?.features) ? (obs.hello.features as string[]) : [];
    const usable = (f: string) => offered.includes(f) && (f !== 'credit' || Number.isInteger(obs.hello?.window));
    obs.agreed = ['bye-ack', 'drain', 'deadline', 'credit'].filter(usable);
    // A moment before the WELCOME shows whether the client sends anything it may not send yet (C-1).
    const helloAt = this.socket.received.indexOf(first);
    await new Promise(resolve => setTimeout(resolve, Math.min(500, this.opts.timeoutMs / 4)));
    await this.send([
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
    const welcomedAt = this.socket.mark;
    obs.beforeWelcome = this.socket.received
      .slice(helloAt + 1, welcomedAt)
      .filter(a => this.fromClient(a) && a.env.type !== T.HELLO && a.env.type !== T.PONG)
      .map(a => a.env);
    return welcomedAt;
  }

  /** PING, the client's use of the patterns, then DRAIN and BYE where agreed. */
  async exercise(from: number): Promise<void> {
    const { obs } = this;
    obs.pong = await this.answered([header(T.PING), EMPTY], T.PONG, 'PONG');
    await this.serve(from);
    if (obs.agreed.includes('drain'))
      obs.drainAnswered = await this.answered([header(T.DRAIN), EMPTY], T.DRAIN, 'DRAIN');
    if (obs.agreed.includes('bye-ack')) obs.byeAnswered = await this.answered([header(T.BYE), EMPTY], T.BYE, 'BYE');
  }

  /** Answers the client until it used every pattern, or `waitMs` passed. */
  private async serve(from: number): Promise<void> {
    const until = Date.now() + this.opts.waitMs;
    let at = from;
    while (this.obs.echoed === 0 || this.obs.streamed.completed === 0 || this.obs.cancelled === 0) {
      const left = until - Date.now();
      if (left <= 0) return;
      let a: Arrival;
      try {
        a = await this.socket.next(this.fromClient, left, 'a message', at);
      } catch {
        return;
      }
      at = this.socket.received.indexOf(a) + 1;
      await this.take(a.env);
    }
  }

  private async take(e: Seen): Promise<void> {
    if (e.problem !== undefined) this.obs.breaches.push(['W-10', `${describe(e)}: ${e.problem}`]);
    if (e.type === T.REQUEST) return this.request(e);
    if (e.type === T.CANCEL) {
      if (this.pending.delete(e.id)) this.obs.cancelled++;
      this.streams.delete(e.id);
    } else if (e.type === T.CREDIT) {
      this.obs.streamed.credits++;
      const s = this.streams.get(e.id);
      if (s === undefined) return;
      s.credit += e.payload.length === 4 ? e.payload.readUInt32BE(0) : 0;
      await this.pump(e.id, s);
    } else if (e.type === T.PING) {
      await this.send([header(T.PONG), EMPTY]);
    }
  }

  private async request(e: Seen): Promise<void> {
    const { obs } = this;
    if (this.pending.has(e.id)) obs.breaches.push(['C-6', `request id ${e.id} reused while pending`]);
    if (e.flags & FLAG.DEADLINE && !obs.agreed.includes('deadline'))
      obs.breaches.push(['C-11', `flag DEADLINE on request ${e.id} without the deadline feature`]);
    if (e.flags & FLAG.STREAM && !obs.agreed.includes('credit'))
      obs.breaches.push(['C-13', `flag STREAM on request ${e.id} without the credit feature`]);
    this.pending.add(e.id);
    switch (e.pattern) {
      case KIT_PATTERNS.echo:
        obs.echoed++;
        this.pending.delete(e.id);
        return this.send([header(T.CHUNK, { id: e.id, enc: e.enc, flags: FLAG.END }), e.payload]);
      case KIT_PATTERNS.stream: {
        obs.streamed.requested++;
        const s = { left: countOf(e.payload), credit: obs.window, next: 0 };
        this.streams.set(e.id, s);
        return this.pump(e.id, s);
      }
      case KIT_PATTERNS.hang:
        obs.hangs++;
        return;
      default: {
        obs.breaches.push(['C-1', `a REQUEST for ${JSON.stringify(e.pattern)}, which the WELCOME did not list`]);
        this.pending.delete(e.id);
        const error = { status: 'error', code: 'NO_HANDLER', message: 'not served', pattern: e.pattern };
        return this.send([header(T.ERROR, { id: e.id, enc: ENC.JSON }), json(error)]);
      }
    }
  }

  /** Sends what the credit allows of stream `id` (everything without `credit`), then END once it is all sent. */
  private async pump(id: number, s: OutStream): Promise<void> {
    const credit = this.obs.agreed.includes('credit');
    const pairs: Pair[] = [];
    while (s.left > 0 && (!credit || s.credit > 0)) {
      s.left--;
      s.credit--;
      pairs.push([header(T.CHUNK, { id, enc: ENC.JSON }), json(s.next++)]);
    }
    if (s.left === 0) {
      pairs.push([header(T.END, { id }), EMPTY]);
      this.streams.delete(id);
      this.pending.delete(id);
      this.obs.streamed.completed++;
    }
    if (pairs.length > 0) await this.send(...pairs);
  }
}

/** The n of a `conformance/stream` request (JSON), at most 10,000. */
function countOf(payload: Buffer): number {
  try {
    return Math.max(0, Math.min(10_000, Math.floor(Number(JSON.parse(payload.toString('utf8')))) || 0));
  } catch {
    return 0;
  }
}

/** Binds, serves the first client that says HELLO, and records what it does. */
async function observe(opts: ClientKitOptions, write: (line: string) => void): Promise<ClientObservations> {
  const { socket, endpoint } = await KitSocket.router(opts.bind);
  write(`LISTENING ${endpoint}\n`);
  try {
    const first = await socket.next(a => a.env.type === T.HELLO, opts.waitMs, 'HELLO from a client');
    const session = new CheckingSession(socket, first.routingId!, opts);
    await session.exercise(await session.welcome(first));
    return session.obs;
  } finally {
    socket.close();
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
    run: obs => expectThat(obs.helloProblem === undefined, obs.helloProblem ?? ''),
  },
  {
    id: 'C-1',
    title: 'nothing but HELLO and PONG before the WELCOME; requests only for patterns the WELCOME listed',
    run: obs => {
      expectThat(obs.beforeWelcome.length === 0, `before the WELCOME: ${obs.beforeWelcome.map(describe).join(', ')}`);
      noBreach(obs, 'C-1');
    },
  },
  {
    id: 'W-27',
    title: 'a PING gets a PONG',
    run: obs => expectThat(obs.pong === true, 'no PONG'),
  },
  {
    id: 'W-10',
    title: 'every header follows the header rules',
    run: obs => noBreach(obs, 'W-10'),
  },
  {
    id: 'C-6',
    title: 'request ids are unique among the pending calls',
    run: obs => noBreach(obs, 'C-6'),
  },
  {
    id: 'C-11',
    title: 'flag DEADLINE only where deadline was agreed',
    run: obs => noBreach(obs, 'C-11'),
  },
  {
    id: 'C-13',
    title: 'flag STREAM only where credit was agreed',
    run: obs => noBreach(obs, 'C-13'),
  },
  {
    id: 'C-9',
    title: `a call whose caller gave up is cancelled (${KIT_PATTERNS.hang})`,
    run: obs => {
      skipUnless(obs.hangs > 0, `the client sent no ${KIT_PATTERNS.hang} request`);
      expectThat(obs.cancelled > 0, `no CANCEL for a ${KIT_PATTERNS.hang} request`);
    },
  },
  {
    id: 'W-20',
    title: `a reply stream longer than the window is granted credit as it is taken (${KIT_PATTERNS.stream})`,
    run: obs => {
      skipUnless(obs.agreed.includes('credit'), 'the client did not offer credit');
      skipUnless(obs.streamed.requested > 0, `the client sent no ${KIT_PATTERNS.stream} request`);
      expectThat(obs.streamed.completed > 0, `a stream stalled: ${obs.streamed.credits} CREDITs`);
    },
  },
  {
    id: 'C-12',
    title: 'a DRAIN is answered with a DRAIN',
    run: obs => {
      skipUnless(obs.drainAnswered !== undefined, 'the client did not offer drain');
      expectThat(obs.drainAnswered === true, 'no DRAIN answer');
    },
  },
  {
    id: 'W-29',
    title: 'under bye-ack a BYE is answered with a BYE',
    run: obs => {
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
