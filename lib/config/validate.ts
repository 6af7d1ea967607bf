import { ZmqOptionsError } from '../errors/zmq.errors.js';

/** Throws for the first key of `options` not in `known`, naming the nearest known key. */
export function checkKnownKeys(options: object, known: readonly string[], side: 'client' | 'server'): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known);
    const hint = near === undefined ? '' : ` Did you mean "${near}"?`;
    throw new ZmqOptionsError(key, `unknown ${side} option "${key}".${hint}`);
  }
}

/** The known key closest to `key` by edit distance, when it is close enough to be a typo. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

const HOST = /^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\])$/;

/**
 * Checks one endpoint as ZeroMQ reads it: `tcp://host:port` (a `*` host or
 * port only where binding), `ipc://path`, `inproc://name`. Throws a
 * {@link ZmqOptionsError} naming the option and the endpoint.
 */
export function checkEndpoint(endpoint: string, option: 'bind' | 'connect'): void {
  const problem = endpointProblem(endpoint, option === 'bind');
  if (problem !== undefined) throw new ZmqOptionsError(option, `"${option}" endpoint "${endpoint}" ${problem}`);
}

function endpointProblem(endpoint: string, binding: boolean): string | undefined {
  const match = /^([a-z]+):\/\/(.*)$/.exec(endpoint);
  if (match === null) return 'has no scheme: write tcp://host:port, ipc://path or inproc://name';
  const [, scheme, rest] = match as unknown as [string, string, string];
  if (scheme === 'ipc' || scheme === 'inproc') return rest.length === 0 ? `has no ${scheme} name` : undefined;
  if (scheme !== 'tcp') return `has the scheme "${scheme}": use tcp, ipc or inproc`;
  // libzmq's `tcp://source;destination` form: check the address that is bound or connected to.
  return tcpProblem(rest.includes(';') ? rest.slice(rest.indexOf(';') + 1) : rest, binding);
}

function tcpProblem(address: string, binding: boolean): string | undefined {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return 'has no port';
  const host = address.slice(0, colon);
  const port = address.slice(colon + 1);
  if (!HOST.test(host) || (host === '*' && !binding)) return `has a bad host "${host}"`;
  if (port === '*' || port === '!') return binding ? undefined : 'needs a port number to connect to';
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `has a bad port "${port}"`;
  return undefined;
}
