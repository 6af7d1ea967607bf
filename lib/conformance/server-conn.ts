/**
 * The kit's side of `conformance server`: its connections to the server under
 * test (envelopes built byte by byte, what came back kept in order), and the
 * steps the checks share (a session, a request's reply, PONGs, CHUNKs, credit).
 */
import { randomBytes } from 'node:crypto';
import { helloProof } from '../security/hello-proof.js';
import { KitSocket, type Arrival } from './peer.js';
import { expectThat, Skip } from './report.js';
import { describe, EMPTY, ENC, FLAG, header, json, objectOf, type Pair, type Seen, T, valueOf } from './wire.js';

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
   * left out). Over CURVE it offers `curve-key` and `curve-key-2` and proves
   * the kit's key for the id and instance it ends up with: the unbound proof
   * (§12.1), or with `nonce` the proof bound to it (§12.2).
   */
  helloOf(extra: Record<string, unknown> = {}, nonce?: string): Record<string, unknown> {
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
    if (!('features' in extra) || Array.isArray(extra.features)) {
      out.features = [...features, 'curve-key', 'curve-key-2'];
    }
    const id = typeof out.id === 'string' ? out.id : '';
    const instance = typeof out.instance === 'string' ? out.instance : '';
    out.curve = helloProof(curve, curve.serverKey, id, instance, nonce);
    return out;
  }

  /**
   * The HELLO `sent` again with its `curve` proof bound to `nonce` (§12.2):
   * the kit's answer to a CHALLENGE; `undefined` when `sent` is no JSON
   * object with an id (a server challenges no such HELLO).
   */
  answerOf(sent: Buffer, nonce: string): Buffer | undefined {
    const { curve } = this.opts;
    let hello: unknown;
    try {
      hello = JSON.parse(sent.toString('utf8'));
    } catch {
      return undefined;
    }
    if (curve === undefined || typeof hello !== 'object' || hello === null) return undefined;
    const fields = hello as Record<string, unknown>;
    if (typeof fields.id !== 'string') return undefined;
    const instance = typeof fields.instance === 'string' ? fields.instance : '';
    return json({ ...fields, curve: helloProof(curve, curve.serverKey, fields.id, instance, nonce) });
  }

  send(...pairs: Pair[]): Promise<void> {
    return this.socket.send(pairs);
  }

  /** The next envelope from `from` on that `match` accepts. */
  async next(match: (e: Seen) => boolean, what: string, from = 0): Promise<Seen> {
    return (await this.socket.next(a => match(a.env), this.opts.timeoutMs, what, from)).env;
  }

  /** The next WELCOME, CHALLENGE or ERROR(0) from `from` on. */
  handshakeAnswer(from: number): Promise<Seen> {
    return this.next(
      e => e.type === T.WELCOME || e.type === T.CHALLENGE || (e.type === T.ERROR && e.id === 0),
      'WELCOME, CHALLENGE or ERROR(0)',
      from,
    );
  }

  /**
   * Sends a HELLO (any payload, any header) and returns the WELCOME or
   * ERROR(0) that answers it. Over CURVE a CHALLENGE is answered first, with
   * the same HELLO proving the kit's key over its nonce (§12.2).
   */
  async helloRaw(payload: Buffer, h: Buffer = header(T.HELLO, { enc: ENC.JSON })): Promise<Seen> {
    let mark = this.socket.mark;
    await this.send([h, payload]);
    const answer = await this.handshakeAnswer(mark);
    if (answer.type !== T.CHALLENGE) return answer;
    const nonce = objectOf(answer)?.nonce;
    const bound = typeof nonce === 'string' ? this.answerOf(payload, nonce) : undefined;
    expectThat(bound !== undefined, `a CHALLENGE the kit cannot answer: ${describe(answer)}`);
    mark = this.socket.mark;
    await this.send([h, bound]);
    const last = await this.handshakeAnswer(mark);
    expectThat(last.type !== T.CHALLENGE, `the HELLO that answered a CHALLENGE got another: ${describe(last)}`);
    return last;
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
export async function withConns<T>(opts: ServerKitOptions, n: number, fn: (...c: Conn[]) => Promise<T>): Promise<T> {
  const conns = Array.from({ length: n }, () => new Conn(opts));
  try {
    return await fn(...conns);
  } finally {
    for (const c of conns) c.close();
  }
}

/** Fails unless `e` is `ERROR(0)` with every field S-5 names and `code`. */
export function expectRefusal(e: Seen, code: string, what: string): void {
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
export function expectError(e: Seen, id: number, code: string, what: string): Record<string, unknown> {
  const v = objectOf(e);
  expectThat(e.type === T.ERROR && e.id === id && v?.code === code, `${what}: got ${describe(e)} (${code} expected)`);
  return v;
}

export const pattern = (opts: ServerKitOptions) => opts.echo ?? `conformance/none-${randomBytes(4).toString('hex')}`;
export const needEcho = (opts: ServerKitOptions): string => {
  if (opts.echo === undefined) throw new Skip('needs --echo <pattern>');
  return opts.echo;
};
export const needStream = (opts: ServerKitOptions): string => {
  if (opts.stream === undefined) throw new Skip('needs --stream <pattern>');
  return opts.stream;
};

export const request = (
  id: number,
  p: string,
  payload: Buffer = json(null),
  o: Parameters<typeof header>[1] = {},
): Pair => [header(T.REQUEST, { id, pattern: p, enc: payload.length === 0 ? ENC.NONE : ENC.JSON, ...o }), payload];
export const forId = (id: number) => (e: Seen) =>
  e.id === id && (e.type === T.CHUNK || e.type === T.END || e.type === T.ERROR);
export const isLast = (e: Seen) =>
  e.type === T.END || e.type === T.ERROR || (e.type === T.CHUNK && (e.flags & FLAG.END) !== 0);

/** The reply sequence of call `id` (S-10): its CHUNK values and how it ended. */
export async function replyOf(c: Conn, id: number, from: number): Promise<{ values: unknown[]; last: Seen }> {
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
export async function pongs(c: Conn, n: number, from: number): Promise<void> {
  let seen = 0;
  await c.socket.next(a => a.env.type === T.PONG && ++seen === n, c.opts.timeoutMs, `${n} PONGs`, from);
}

/** Waits until `n` CHUNKs of call `id` arrived from index `from` on. */
export async function chunks(c: Conn, id: number, n: number, from: number): Promise<void> {
  let seen = 0;
  await c.socket.next(
    a => a.env.id === id && a.env.type === T.CHUNK && ++seen === n,
    c.opts.timeoutMs,
    `${n} CHUNKs of call ${id}`,
    from,
  );
}

/** A session with `credit` (and `more`), window `window`; skips when the server does not take credit. */
export async function creditSession(c: Conn, window: number, more: string[] = []): Promise<Record<string, unknown>> {
  const welcome = await c.session(['credit', ...more], { window });
  const features = Array.isArray(welcome.features) ? (welcome.features as string[]) : [];
  if (!features.includes('credit')) throw new Skip('the server does not take the credit feature');
  for (const f of more) if (!features.includes(f)) throw new Skip(`the server does not take the ${f} feature`);
  return welcome;
}
