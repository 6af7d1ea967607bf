import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { nearestName } from '../protocol/nearest-name.js';

/**
 * Throws for the first key of `options` not in `known`: one of the other
 * side's options (`elsewhere`) is named as such, any other key gets the
 * nearest known one.
 */
export function checkKnownKeys(
  options: object,
  known: readonly string[],
  side: 'client' | 'server',
  elsewhere: readonly string[] = [],
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = elsewhere.includes(key) ? otherSideHint(key, side) : nearHint(nearestName(key, known));
    throw new ZmqOptionsError(key, `unknown ${side} option "${key}".${hint}`);
  }
}

/** The option of this side that does what a misplaced option of the other side does. */
const COUNTERPART: Readonly<Record<string, string>> = { bind: 'connect', connect: 'bind' };

function otherSideHint(key: string, side: 'client' | 'server'): string {
  const other = side === 'client' ? 'server' : 'client';
  const counterpart = COUNTERPART[key];
  return ` "${key}" is a ${other} option${counterpart === undefined ? '' : `; a ${side} takes "${counterpart}"`}.`;
}

function nearHint(near: string | undefined): string {
  return near === undefined ? '' : ` Did you mean "${near}"?`;
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
