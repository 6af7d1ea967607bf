/**
 * The transport's ZAP handler (ZeroMQ RFC 27): one ROUTER socket bound to
 * `inproc://zeromq.zap.01` per zeromq context, shared by every CURVE server
 * of the process, each under its own ZAP domain. libzmq asks it at every
 * CURVE handshake of a socket of that context; a domain it does not know is
 * refused. It runs while at least one domain is registered; with none it is
 * closed, and CURVE servers (which set `zapEnforceDomain`) refuse every
 * connection: the allow-list fails closed (docs/PROTOCOL.md §12).
 */
import { Context, context as defaultContext, Router } from 'zeromq';
import type { ZmqCurvePeer } from '../interfaces/zmq-options.interface.js';
import { encodeZ85 } from '../security/z85.js';

/** Where libzmq sends ZAP requests (RFC 27). */
export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/**
 * Most ZAP decisions in progress at once; a handshake beyond them is
 * answered 300 (temporary failure) at once, and its client retries.
 */
export const MAX_PENDING_ZAP_DECISIONS = 256;

/** Longest a ZAP decision may take before the handshake is refused (the allow function's own limit is shorter). */
export const ZAP_DECISION_TIMEOUT_MS = 10_000;

/** Decides one CURVE handshake of a domain; must not reject. */
export type ZapAuthorizer = (peer: ZmqCurvePeer) => Promise<boolean>;

/** Called for ZAP requests the handler cannot read or answer (logged by nobody else). */
export type ZapProblem = (message: string, kind?: string) => void;

const CURVE_KEY_BYTES = 32;

type ZapReply = Array<Buffer | string>;

class ZapHandler implements ZapRegistry {
  private readonly domains = new Map<string, { authorize: ZapAuthorizer; problem: ZapProblem }>();
  private socket: Router | undefined;
  /** The bind of the current socket (a second domain registered meanwhile waits for it too). */
  private bound: Promise<void> = Promise.resolve();
  /**
   * The unbind of the last socket: libzmq frees an inproc name in its reaper
   * thread after close(), so a socket closed without unbinding can still hold
   * the name when the next CURVE server starts.
   */
  private stopped: Promise<void> = Promise.resolve();
  /** Decisions in progress, by domain and key: a key's handshakes in parallel share one decision. */
  private readonly pending = new Map<string, Promise<boolean>>();
  /** Replies go out one at a time (a zeromq.js socket takes one send at once). */
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly context: Context) {}

  /** Registers a domain (binding the socket first if it is the first one); resolves with its release. */
  async register(domain: string, authorize: ZapAuthorizer, problem: ZapProblem): Promise<() => void> {
    if (this.domains.has(domain)) throw new Error(`ZAP domain "${domain}" is already registered`);
    this.domains.set(domain, { authorize, problem });
    try {
      if (this.socket === undefined) this.bound = this.start();
      await this.bound;
    } catch (err) {
      this.domains.delete(domain);
      throw err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.domains.delete(domain);
      if (this.domains.size === 0) this.stop();
    };
  }

  private async start(): Promise<void> {
    const socket = new Router({ context: this.context, linger: 0 });
    this.socket = socket; // at once: a domain registered meanwhile waits for this bind, not a second socket
    try {
      await this.stopped;
      await socket.bind(ZAP_ENDPOINT);
    } catch (err) {
      this.socket = undefined;
      socket.close();
      throw err;
    }
    void this.serve(socket);
  }

  private stop(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return;
    this.stopped = socket
      .unbind(ZAP_ENDPOINT)
      .catch(() => undefined)
      .then(() => socket.close());
  }

  /**
   * Takes requests until the socket closes and decides them concurrently (a
   * ROUTER, not a REP: one slow `allow` does not hold up the handshakes
   * behind it). Never rejects. A receive that fails on an open socket stops
   * the handler (and its socket): from then on CURVE servers refuse every
   * connection, which is the safe way to fail, and say so.
   */
  private async serve(socket: Router): Promise<void> {
    while (!socket.closed) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch (err) {
        if (socket.closed) return;
        for (const { problem } of this.domains.values()) {
          problem(`the ZAP handler stopped (${String(err)}): every CURVE connection is refused`);
        }
        if (this.socket === socket) this.stop();
        return;
      }
      // A REQ peer (libzmq's ZAP client): routing id, empty delimiter, then the request.
      const envelope = frames.slice(0, 2);
      void this.answer(frames.slice(2)).then(reply => this.send(socket, [...envelope, ...reply]));
    }
  }

  private send(socket: Router, frames: ZapReply): Promise<void> {
    this.sending = this.sending.then(
      () => socket.send(frames),
      () => undefined,
    );
    return this.sending.catch(() => {
      // the socket closed during the decision: libzmq fails that handshake
    });
  }

  /** The ZAP reply: version, request id, status code and text, user id, metadata. Never rejects. */
  private async answer(frames: Buffer[]): Promise<ZapReply> {
    const [version, requestId, domain, address, , mechanism, credentials] = frames;
    const reply = (code: '200' | '300' | '400' | '500', text: string, userId = '') => [
      version ?? '1.0',
      requestId ?? '',
      code,
      text,
      userId,
      '',
    ];
    if (version?.toString() !== '1.0' || frames.length < 6) return reply('500', 'Malformed ZAP request');
    const entry = this.domains.get(domain!.toString());
    if (entry === undefined) return reply('400', 'Unknown ZAP domain');
    if (mechanism!.toString() !== 'CURVE' || credentials?.length !== CURVE_KEY_BYTES) {
      entry.problem(`refused a ${mechanism!.toString()} handshake: this server takes CURVE only`, 'ZAP: not CURVE');
      return reply('400', 'CURVE only');
    }
    const publicKey = encodeZ85(credentials);
    const slot = `${domain!.toString()}\0${publicKey}`;
    let decision = this.pending.get(slot);
    if (decision === undefined) {
      if (this.pending.size >= MAX_PENDING_ZAP_DECISIONS) {
        entry.problem(
          `refused the CURVE handshake of ${publicKey}: ${MAX_PENDING_ZAP_DECISIONS} decisions are in progress`,
          'ZAP: busy',
        );
        return reply('300', 'Busy');
      }
      decision = this.decide(entry, { publicKey, address: address!.toString() });
      this.pending.set(slot, decision);
      void decision.then(() => this.pending.delete(slot));
    }
    return (await decision) ? reply('200', 'OK', publicKey) : reply('400', 'Not allowed');
  }

  /** One decision, bounded by {@link ZAP_DECISION_TIMEOUT_MS}; never rejects. */
  private decide(entry: { authorize: ZapAuthorizer; problem: ZapProblem }, peer: ZmqCurvePeer): Promise<boolean> {
    return new Promise<boolean>(resolve => {
      const timer = setTimeout(() => {
        entry.problem(
          `the ZAP decision on ${peer.publicKey} took over ${ZAP_DECISION_TIMEOUT_MS} ms: refused`,
          'ZAP: slow',
        );
        resolve(false);
      }, ZAP_DECISION_TIMEOUT_MS);
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      let decided: Promise<boolean>;
      try {
        decided = entry.authorize(peer);
      } catch (err) {
        decided = Promise.reject(err);
      }
      decided.then(
        ok => settle(ok === true),
        (err: unknown) => {
          entry.problem(`the ZAP decision failed: ${String(err)}`, 'ZAP: failed');
          settle(false);
        },
      );
    });
  }
}

/** What a handler offers a CURVE server (the same shape in the CommonJS and the ESM build). */
interface ZapRegistry {
  register(domain: string, authorize: ZapAuthorizer, problem: ZapProblem): Promise<() => void>;
}

/**
 * The handlers by context, on `globalThis` under a registered symbol: if both
 * builds of this package are loaded, they share one handler per context
 * instead of the second failing to bind `inproc://zeromq.zap.01`.
 */
const HANDLERS = Symbol.for('nestjs-zeromq.zap-handlers');
const registry = globalThis as { [HANDLERS]?: WeakMap<Context, ZapRegistry> };
const handlers: WeakMap<Context, ZapRegistry> = (registry[HANDLERS] ??= new WeakMap<Context, ZapRegistry>());

/**
 * Registers a ZAP domain with the handler of `context` (starting it when it
 * is the first); resolves with the function that releases the domain (and
 * stops the handler when it was the last one).
 */
export function registerZapDomain(
  domain: string,
  authorize: ZapAuthorizer,
  problem: ZapProblem,
  context: Context = defaultContext,
): Promise<() => void> {
  let handler = handlers.get(context);
  if (handler === undefined) {
    handler = new ZapHandler(context);
    handlers.set(context, handler);
  }
  return handler.register(domain, authorize, problem);
}
