import type { ClientZmq } from '../client/client-zmq.js';
import type { ZmqPingResult } from '../protocol/client/ping-probe.js';
import type { ServerZmq } from '../server/server-zmq.js';

/** One server as a client's health result lists it. */
export interface ZmqHealthPeer {
  peerId: string;
  endpoint: string;
  /** The PING round trip, in ms (to the µs); `null` when no PONG came (then `error` is its code). */
  rttMs: number | null;
  error?: string;
}

/** What a check decided, and the data of the terminus result. */
export interface HealthReport {
  ok: boolean;
  data: Record<string, unknown>;
}

/** The decision of `isHealthy` (pure: the PINGs are done already). */
export function clientHealth(
  client: ClientZmq,
  pings: ZmqPingResult[],
  options: { minPeers?: number; patterns?: Array<string | Record<string, unknown>> },
): HealthReport {
  const minPeers = options.minPeers ?? 1;
  const infos = client.getPeers();
  const peers: ZmqHealthPeer[] = pings.map(p => ({
    peerId: p.peerId,
    endpoint: p.endpoint,
    rttMs: p.rttMs === undefined ? null : Math.round(p.rttMs * 1000) / 1000,
    ...(p.error !== undefined ? { error: p.error.code } : {}),
  }));
  const answered = peers.filter(p => p.rttMs !== null).length;
  const down = client.endpoints.filter(e => !infos.some(i => i.endpoint === e));
  const normalize = (p: string | Record<string, unknown>) =>
    (client as unknown as { normalizePattern(p: unknown): string }).normalizePattern(p);
  const unserved = (options.patterns ?? [])
    .map(normalize)
    .filter(p => !infos.some(i => i.patterns?.includes(p) || i.events?.includes(p)));
  const unanswered = peers.filter(p => p.rttMs === null).map(p => ({ peerId: p.peerId, error: p.error }));
  const problems = [
    ...(answered < minPeers ? [`${answered} of at least ${minPeers} server(s) connected and answering`] : []),
    ...(down.length > 0 ? [`no session with ${down.join(', ')}`] : []),
    ...(unserved.length > 0 ? [`no connected server serves ${unserved.map(p => JSON.stringify(p)).join(', ')}`] : []),
    ...unanswered.map(u => `${u.peerId} did not answer the PING (${u.error})`),
  ];
  // An endpoint down is reported, but fails the check only through minPeers (another server may serve).
  const ok = answered >= minPeers && unserved.length === 0;
  const data: Record<string, unknown> = { peers };
  if (down.length > 0) data.down = down;
  if (!ok || problems.length > 0) {
    if (unserved.length > 0) data.unserved = unserved;
    if (unanswered.length > 0) data.unanswered = unanswered;
    data.message = problems.join('; ');
  }
  return { ok, data };
}

/** The decision of `isServerHealthy`. */
export function serverHealth(server: ServerZmq, options: { minPeers?: number }): HealthReport {
  const minPeers = options.minPeers ?? 0;
  const { inFlight, queued } = server.getStats();
  const peers = server.getPeers().map(p => ({ peerId: p.peerId, pending: p.pending }));
  const data: Record<string, unknown> = { state: server.state, endpoints: server.endpoints, peers, inFlight, queued };
  const problems = [
    ...(server.state !== 'listening' ? [`the server is ${server.state}, not listening`] : []),
    ...(peers.length < minPeers ? [`${peers.length} of at least ${minPeers} client(s) connected`] : []),
  ];
  if (problems.length > 0) data.message = problems.join('; ');
  return { ok: problems.length === 0, data };
}
