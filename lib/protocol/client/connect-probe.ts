import type { ZmqConnectReason, ZmqConnectSeen } from '../../errors/zmq.errors.js';
import type { ZmqEndpointInfo } from '../../interfaces/zmq-events.interface.js';
import { answerEndpoints, targetOf } from './endpoint-set.js';

/**
 * What a client's `connect()` tells apart while it waits, from one short
 * connection attempt per endpoint made beside libzmq's own (libzmq reports
 * nothing a plaintext socket reads): nothing accepting connections there, or
 * something that accepts them. The attempt itself is I/O
 * (lib/transport/tcp-probe.ts); what it means is decided here.
 */

/** Why nothing accepts connections at an endpoint. */
export type ProbeRefusal =
  /** ECONNREFUSED: no process listens on that port (or on that ipc socket file). */
  | 'refused'
  /** An ipc endpoint whose socket file does not exist. */
  | 'no-file'
  /** The host name does not resolve. */
  | 'unresolved'
  /** No route to the host or network (EHOSTUNREACH, ENETUNREACH). */
  | 'unreachable';

/**
 * The first bytes of the peer that accepted a probe: a ZeroMQ (ZMTP)
 * greeting, with the security mechanism it asks for (`NULL`, `CURVE`;
 * undefined before ZMTP 3), or no greeting at all (not a ZeroMQ socket, or
 * one too busy to send it in time).
 */
export type Greeting = { readonly kind: 'zmtp'; readonly mechanism: string | undefined } | { readonly kind: 'none' };

/** What one short connection attempt to an endpoint met. */
export type ProbeResult =
  | { readonly kind: 'refused'; readonly cause: ProbeRefusal; readonly code: string }
  /** Something accepted the connection; `greeting` is what it sent first, when that was read. */
  | { readonly kind: 'accepted'; readonly greeting?: Greeting }
  /** Neither accepted nor refused within the attempt's time. */
  | { readonly kind: 'silent' }
  /** The attempt failed otherwise (e.g. EACCES on an ipc file). */
  | { readonly kind: 'failed'; readonly code: string }
  /** A transport the probe cannot try (inproc). */
  | { readonly kind: 'unprobed' };

/** One short connection attempt to `endpoint` (a literal one: an address or a path); never rejects. */
export type EndpointProbe = (endpoint: string) => Promise<ProbeResult>;

/** What the engine needs to tell the cases apart: the probe, and whether its links use CURVE. */
export interface ConnectDiagnostics {
  readonly probe: EndpointProbe;
  /** The links use CURVE: a handshake that never completes has the causes of a CURVE client. */
  readonly curve: boolean;
}

/** The result of one configured endpoint: the probe of each of its addresses, the furthest one wins. */
const RANK: Record<ProbeResult['kind'], number> = { accepted: 4, silent: 3, failed: 2, unprobed: 1, refused: 0 };

/** The furthest of several addresses' results (the first of equals): refused only when every address is. */
export function furthest(results: readonly ProbeResult[]): ProbeResult {
  let best: ProbeResult = { kind: 'unprobed' };
  let rank = -1;
  for (const result of results) {
    if (RANK[result.kind] > rank) {
      best = result;
      rank = RANK[result.kind];
    }
  }
  return best;
}

/**
 * Probes one configured endpoint: each address it stands for (those the
 * engine already resolved, or a fresh resolution of a name with none yet;
 * a name that does not resolve is `unresolved`), or the endpoint itself.
 */
export async function probeEndpoint(
  info: ZmqEndpointInfo,
  probe: EndpointProbe,
  resolve: ((host: string) => Promise<string[]>) | undefined,
): Promise<ProbeResult> {
  let addresses = info.addresses;
  const target = targetOf(info.endpoint);
  if (addresses.length === 0 && target.kind === 'name' && resolve !== undefined) {
    try {
      const answer: unknown = await resolve(target.host);
      addresses = Array.isArray(answer) ? answerEndpoints(answer, target.port) : [];
    } catch (err) {
      return { kind: 'refused', cause: 'unresolved', code: codeOf(err) };
    }
    if (addresses.length === 0) return { kind: 'refused', cause: 'unresolved', code: 'no address' };
  }
  if (addresses.length === 0) addresses = [info.endpoint];
  return furthest(await Promise.all(addresses.map(a => probe(a).catch(err => failedOf(err)))));
}

function failedOf(err: unknown): ProbeResult {
  return { kind: 'failed', code: codeOf(err) };
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(err);
}

/** Whether the results say that nothing accepts connections at any endpoint (at least one was probed). */
export function everyRefused(results: readonly ProbeResult[]): boolean {
  return results.length > 0 && results.every(r => r.kind === 'refused');
}

/**
 * What an endpoint's result means for a person: what was met and what to
 * check. `undefined` for an endpoint the probe cannot try. `waitedMs` is how
 * long an attempt that met nothing was given.
 */
export function seenOf(
  endpoint: string,
  result: ProbeResult,
  curve: boolean,
  waitedMs: number,
): ZmqConnectSeen | undefined {
  const seen = (reason: ZmqConnectReason, detail: string): ZmqConnectSeen => ({ endpoint, reason, detail });
  switch (result.kind) {
    case 'refused':
      return seen('refused', refusedText(endpoint, result.cause, result.code));
    case 'accepted':
      return acceptedSeen(endpoint, result.greeting, curve);
    case 'silent':
      return seen(
        'no-answer',
        `no connection to ${endpoint} was accepted or refused within ${waitedMs} ms: is the host up and reachable (a firewall that drops packets looks like this)?`,
      );
    case 'failed':
      return seen('no-answer', `a connection to ${endpoint} failed (${result.code})`);
    case 'unprobed':
      return undefined;
  }
}

function refusedText(endpoint: string, cause: ProbeRefusal, code: string): string {
  switch (cause) {
    case 'refused':
      return endpoint.startsWith('ipc://')
        ? `nothing accepts connections at ${endpoint} (${code}: the socket file exists but no process listens on it): is the server running?`
        : `nothing accepts connections at ${endpoint} (${code}): is the server running, and bound to that address and port?`;
    case 'no-file':
      return `nothing listens at ${endpoint} (no such socket file): is the server running, and bound to that path?`;
    case 'unresolved':
      return `the host name in ${endpoint} does not resolve (${code}): check the name and the DNS this client uses`;
    case 'unreachable':
      return `nothing can be reached at ${endpoint} (${code}: no route to it): check the address and the network`;
  }
}

/**
 * A connection accepted without a session: the cause its greeting names
 * when it sent one (the mechanism it asks for against this client's), else
 * the likely causes.
 */
function acceptedSeen(endpoint: string, greeting: Greeting | undefined, curve: boolean): ZmqConnectSeen {
  const what = endpoint.startsWith('tcp://') ? 'the TCP connection' : 'the connection';
  const base = `something at ${endpoint} accepted ${what} but no ZeroMQ handshake (HELLO/WELCOME) completed`;
  const seen = (reason: ZmqConnectReason, detail: string): ZmqConnectSeen => ({ endpoint, reason, detail });
  if (greeting?.kind === 'none') {
    return seen(
      'no-handshake',
      `${base}: it sent no ZeroMQ greeting, so it is not a ZeroMQ server (or one too busy to answer): check the address and port`,
    );
  }
  const mechanism = greeting?.mechanism;
  if (mechanism === 'CURVE' && !curve) {
    return seen(
      'no-handshake',
      `${base}: its ZeroMQ greeting asks for CURVE, and this client has no "curve" option: give it the server's public key (curve.serverKey)`,
    );
  }
  if (mechanism === 'CURVE') {
    return seen(
      'no-handshake',
      `${base}: the server uses CURVE and the CURVE handshake failed: a wrong curve.serverKey (the server cannot read this client), or a server too busy to answer?`,
    );
  }
  if (mechanism === 'NULL' && curve) {
    return seen(
      'no-handshake',
      `${base}: its ZeroMQ greeting says it does not use CURVE, and this client does: drop the client's "curve" option or give the server its keys`,
    );
  }
  if (mechanism === 'NULL') {
    return seen(
      'no-session',
      `a ZeroMQ socket at ${endpoint} accepted the connection but no nestjs-zeromq WELCOME answered the HELLO: another application's ZeroMQ socket, or a server too busy to answer?`,
    );
  }
  if (mechanism !== undefined) {
    return seen(
      'no-handshake',
      `${base}: its ZeroMQ greeting asks for the ${mechanism} mechanism, which nestjs-zeromq does not use (CURVE or none)`,
    );
  }
  return seen('no-handshake', `${base}: ${handshakeCauses(curve)}`);
}

/** The likely causes of a connection accepted without a completed handshake, for a CURVE client or a plaintext one. */
function handshakeCauses(curve: boolean): string {
  return curve
    ? 'a wrong curve.serverKey (the server cannot read this client), a server that does not use CURVE, a listener that is not a nestjs-zeromq server, or a server too busy to answer?'
    : 'a server that requires CURVE (give this client the "curve" option with the server\'s public key), a listener that is not a nestjs-zeromq server, or a server too busy to answer?';
}
