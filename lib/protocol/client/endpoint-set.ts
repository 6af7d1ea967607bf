/**
 * The pure part of following a service's addresses: which endpoints name a
 * host to resolve, the endpoint of each address, and what changed between
 * two answers. No I/O here: the resolver is the engine's dependency.
 */

/** An endpoint as configured: a literal one (kept as it is), or `tcp://name:port` to resolve. */
export type EndpointTarget =
  | { readonly kind: 'literal'; readonly endpoint: string }
  | { readonly kind: 'name'; readonly endpoint: string; readonly host: string; readonly port: string };

const TCP_HOST_PORT = /^tcp:\/\/([^/:[\]]+):(\d+)$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Whether `host` is an IPv4 or IPv6 address rather than a name. */
export function isAddressLiteral(host: string): boolean {
  if (host.includes(':')) return true; // IPv6 (bracketed in an endpoint, bare in an answer)
  const m = IPV4.exec(host);
  return m !== null && m.slice(1).every(part => Number(part) <= 255);
}

/**
 * How an endpoint is followed: `tcp://host:port` with a host name is resolved
 * (a wildcard `*` host or an interface name cannot be, and is not written so
 * by a client); every other endpoint (an address, ipc, inproc) is literal.
 */
export function targetOf(endpoint: string): EndpointTarget {
  const m = TCP_HOST_PORT.exec(endpoint);
  if (m === null || isAddressLiteral(m[1]!) || m[1] === '*') return { kind: 'literal', endpoint };
  return { kind: 'name', endpoint, host: m[1]!, port: m[2]! };
}

/** The endpoint of one address of a resolved name: `tcp://10.0.0.7:4000`, `tcp://[fd00::7]:4000`. */
export function addressEndpoint(address: string, port: string): string {
  return address.includes(':') ? `tcp://[${address}]:${port}` : `tcp://${address}:${port}`;
}

/** The endpoints of an answer, without duplicates or anything that is not an address, in the answer's order. */
export function answerEndpoints(answer: readonly unknown[], port: string): string[] {
  const out = new Set<string>();
  for (const address of answer) {
    if (typeof address === 'string' && isAddressLiteral(address)) out.add(addressEndpoint(address, port));
  }
  return [...out];
}

/** What changed between the endpoints in use and those of a new answer. */
export interface EndpointDiff {
  /** In the answer, not in use: a link each opens. */
  readonly added: readonly string[];
  /** In use, not in the answer: their links drain and close. */
  readonly removed: readonly string[];
  /** In both: their links stay. */
  readonly kept: readonly string[];
}

export function diffEndpoints(current: Iterable<string>, next: readonly string[]): EndpointDiff {
  const before = new Set(current);
  const after = new Set(next);
  return {
    added: next.filter(e => !before.has(e)),
    removed: [...before].filter(e => !after.has(e)),
    kept: next.filter(e => before.has(e)),
  };
}
