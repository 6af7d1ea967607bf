/** The attributes and names of the transport's spans (OpenTelemetry semantic conventions). */
import { isIP } from 'node:net';

/**
 * Span attributes (README "Tracing"): the OpenTelemetry semantic conventions
 * for RPC spans (requests) and messaging spans (events), plus `zmq.*` for
 * what they have no name for.
 */
export const ATTR = {
  system: 'rpc.system',
  service: 'rpc.service',
  method: 'rpc.method',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  peerAddress: 'network.peer.address',
  peerPort: 'network.peer.port',
  transport: 'network.transport',
  errorType: 'error.type',
  messagingSystem: 'messaging.system',
  destination: 'messaging.destination.name',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  pattern: 'zmq.pattern',
  peerId: 'zmq.peer_id',
  requestId: 'zmq.request_id',
  outcome: 'zmq.outcome',
  errorCode: 'zmq.error_code',
} as const;

/** `rpc.system` and `messaging.system` of every span. */
export const SYSTEM = 'nestjs-zeromq';

/**
 * A request's RPC names: a dotted string pattern is `service.method`
 * (`math.sum`: service `math`, method `sum`); any other pattern is the
 * method alone. The span's name is `service/method`, or the method.
 */
export function rpcNames(pattern: string): { service?: string; method: string; name: string } {
  const dot = pattern.lastIndexOf('.');
  if (pattern.startsWith('{') || dot <= 0 || dot === pattern.length - 1) return { method: pattern, name: pattern };
  const service = pattern.slice(0, dot);
  const method = pattern.slice(dot + 1);
  return { service, method, name: `${service}/${method}` };
}

/**
 * The `server.*` and `network.*` attributes of an endpoint a client sent to:
 * `tcp://host:port` (the peer's address too when the host is an IP
 * address), `ipc://path` (transport `unix`), `inproc://name`.
 */
export function endpointAttributes(endpoint: string): Record<string, string | number> {
  const match = /^([a-z]+):\/\/(.*)$/.exec(endpoint);
  if (match === null) return {};
  const [, scheme, rest] = match as unknown as [string, string, string];
  if (scheme !== 'tcp') return { [ATTR.transport]: scheme === 'ipc' ? 'unix' : scheme, [ATTR.serverAddress]: rest };
  const address = rest.includes(';') ? rest.slice(rest.indexOf(';') + 1) : rest;
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  const out: Record<string, string | number> = {
    [ATTR.transport]: 'tcp',
    [ATTR.serverAddress]: host,
    [ATTR.serverPort]: port,
  };
  if (isIP(host) !== 0) Object.assign(out, { [ATTR.peerAddress]: host, [ATTR.peerPort]: port });
  return out;
}
