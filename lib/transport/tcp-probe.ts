/**
 * One short connection attempt to a tcp:// or ipc:// endpoint with Node's
 * `net`, closed as soon as it is accepted, without a byte sent: whether
 * anything accepts connections there. libzmq's own attempts say nothing a
 * socket without a monitor reads, and a monitor per socket costs a socket
 * and an inproc endpoint.
 */
import { connect, Socket } from 'node:net';
import type { EndpointProbe, ProbeRefusal, ProbeResult } from '../protocol/client/connect-probe.js';
import { CONNECT_PROBE_TIMEOUT_MS } from '../protocol/tuning.js';

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
 * Tries one connection to `endpoint`, at most `timeoutMs`: accepted (closed
 * at once), refused and why, silent, or failed. Never rejects.
 */
export function probeEndpoint(endpoint: string, timeoutMs = CONNECT_PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const target = probeTarget(endpoint);
  if (target === undefined) return Promise.resolve({ kind: 'unprobed' });
  return new Promise<ProbeResult>(resolve => {
    let socket: Socket | undefined;
    let settled = false;
    const done = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ kind: 'silent' }), timeoutMs);
    try {
      socket = connect(target);
    } catch (err) {
      return done(resultOfError(codeOf(err)));
    }
    socket.once('connect', () => done({ kind: 'accepted' }));
    // Kept after the result: an error of a socket being destroyed must not go unhandled.
    socket.on('error', err => done(resultOfError(codeOf(err))));
  });
}

/** The probe a client's engine uses (lib/protocol/client/connect-probe.ts). */
export const tcpProbe: EndpointProbe = endpoint => probeEndpoint(endpoint);
