/**
 * One short connection attempt to a tcp:// or ipc:// endpoint with Node's
 * `net`: whether anything accepts connections there and, when something
 * does, the start of its ZeroMQ greeting (ZMTP 3, rfc.zeromq.org/spec/23):
 * the probe sends the 10-byte signature and its major version 3, which is
 * what a ZeroMQ socket needs to send its own signature, version and
 * security mechanism, then closes the connection without a handshake
 * (libzmq reports that as a handshake failure without detail, which no
 * monitor here reads). libzmq's own attempts say nothing a socket without a
 * monitor reads, and a monitor per socket costs a socket and an inproc
 * endpoint.
 */
import { connect, Socket } from 'node:net';
import type { EndpointProbe, Greeting, ProbeRefusal, ProbeResult } from '../protocol/client/connect-probe.js';
import { CONNECT_PROBE_GREETING_MS, CONNECT_PROBE_TIMEOUT_MS } from '../protocol/tuning.js';

/** A ZMTP signature (0xFF, 8 padding bytes, 0x7F) and major version 3: what makes a ZeroMQ peer send its greeting. */
const GREETING_START = Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3]);
/** Bytes of a ZMTP 3 greeting up to the end of its mechanism field. */
const GREETING_THROUGH_MECHANISM = 32;

/**
 * What the first bytes of a peer say: a ZMTP greeting (with its mechanism
 * from ZMTP 3 on, kept to the characters a mechanism name has) or none.
 */
export function greetingOf(bytes: Buffer): Greeting {
  if (bytes.length < 10 || bytes[0] !== 0xff || bytes[9] !== 0x7f) return { kind: 'none' };
  if (bytes.length < GREETING_THROUGH_MECHANISM || bytes[10]! < 3) return { kind: 'zmtp', mechanism: undefined };
  const name = bytes.subarray(12, GREETING_THROUGH_MECHANISM).toString('latin1').replace(/\0+$/, '');
  return { kind: 'zmtp', mechanism: /^[A-Z0-9_.+-]{1,20}$/.test(name) ? name : undefined };
}

/** Where to connect for a libzmq endpoint; undefined for one the probe cannot try (inproc, malformed). */
export function probeTarget(endpoint: string): { host: string; port: number } | { path: string } | undefined {
  if (endpoint.startsWith('ipc://')) {
    const path = endpoint.slice('ipc://'.length);
    if (path.length === 0 || path === '*') return undefined;
    // libzmq's `@name` is Linux's abstract namespace, a leading NUL byte for Node.
    return { path: path.startsWith('@') ? `\0${path.slice(1)}` : path };
  }
  if (!endpoint.startsWith('tcp://')) return undefined;
  // `tcp://source;host:port` connects from `source`: the probe tries the destination.
  const rest = endpoint.slice('tcp://'.length);
  const destination = rest.slice(rest.lastIndexOf(';') + 1);
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(destination);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

/** What the error code of a failed connection attempt says of the endpoint. */
export function resultOfError(code: string | undefined): ProbeResult {
  const cause = REFUSALS[code ?? ''];
  if (cause !== undefined) return { kind: 'refused', cause, code: code! };
  if (code === 'ETIMEDOUT') return { kind: 'silent' };
  return { kind: 'failed', code: code ?? 'unknown error' };
}

const REFUSALS: Record<string, ProbeRefusal> = {
  ECONNREFUSED: 'refused',
  ENOENT: 'no-file',
  ENOTFOUND: 'unresolved',
  EAI_AGAIN: 'unresolved',
  EAI_NONAME: 'unresolved',
  EAI_FAIL: 'unresolved',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
};

/** The error code of a failed attempt (a happy-eyeballs attempt over several addresses fails with an AggregateError). */
function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[] } | null;
  if (typeof e?.code === 'string') return e.code;
  const first = Array.isArray(e?.errors) ? (e!.errors[0] as { code?: unknown } | undefined) : undefined;
  return typeof first?.code === 'string' ? first.code : undefined;
}

/**
 * Tries one connection to `endpoint`: refused and why, silent (nothing
 * within `timeoutMs`), failed, or accepted with what the peer sent first
 * within `greetingMs` of the connection. Never rejects; the connection is
 * closed before it settles.
 */
export function probeEndpoint(
  endpoint: string,
  timeoutMs = CONNECT_PROBE_TIMEOUT_MS,
  greetingMs = CONNECT_PROBE_GREETING_MS,
): Promise<ProbeResult> {
  const target = probeTarget(endpoint);
  if (target === undefined) return Promise.resolve({ kind: 'unprobed' });
  return new Promise<ProbeResult>(resolve => {
    let socket: Socket | undefined;
    let settled = false;
    let connected = false;
    let received = Buffer.alloc(0);
    const done = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const accepted = () => done({ kind: 'accepted', greeting: greetingOf(received) });
    let timer = setTimeout(() => done({ kind: 'silent' }), timeoutMs);
    try {
      socket = connect(target);
    } catch (err) {
      return done(resultOfError(codeOf(err)));
    }
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(accepted, greetingMs);
      socket!.write(GREETING_START);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]).subarray(0, GREETING_THROUGH_MECHANISM);
      // Enough to know: the mechanism is in, or the first bytes are no ZMTP signature.
      const notZmtp = received[0] !== 0xff || (received.length >= 10 && received[9] !== 0x7f);
      if (notZmtp || received.length >= GREETING_THROUGH_MECHANISM) accepted();
    });
    // The peer closed first: what it sent is all there is.
    socket.once('end', () => (connected ? accepted() : undefined));
    // Kept after the result: an error of a socket being destroyed must not go unhandled.
    socket.on('error', err => (connected ? accepted() : done(resultOfError(codeOf(err)))));
  });
}

/** The probe a client's engine uses (lib/protocol/client/connect-probe.ts). */
export const tcpProbe: EndpointProbe = endpoint => probeEndpoint(endpoint);
