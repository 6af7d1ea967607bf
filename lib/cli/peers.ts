import type { ClientZmq } from '../client/client-zmq.js';
import { DEFAULT_CONNECT_TIMEOUT } from '../defaults.js';
import { EXIT_FAILED, EXIT_OK, expectPositionals } from './args.js';
import { defineCommand } from './command.js';
import { fields } from './output.js';
import { describePeer, peerRows } from './ping.js';
import { untilAborted, withClient } from './session.js';

/** `peers <endpoint...>`: what each server's WELCOME says. */
export const peersCommand = defineCommand({
  summary: 'list the servers at one or more endpoints, as their handshake describes them',
  usage: `Usage: nestjs-zeromq peers <endpoint> [<endpoint>...] [options]

Connects to every endpoint and lists each server that completed the handshake:
its id, endpoint, metadata, message patterns and event patterns (what its
WELCOME says). Waits for all of them (up to --timeout); an endpoint with no
server is named on stderr and the exit code is 1.

  nestjs-zeromq peers tcp://127.0.0.1:4001 tcp://127.0.0.1:4002
  nestjs-zeromq peers tcp://127.0.0.1:4001 --json`,
  async run(parsed, io) {
    const endpoints = expectPositionals(parsed, 1, Infinity);
    return withClient(endpoints, parsed, io, async client => {
      await untilAborted(allJoined(client, endpoints, parsed.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT), io.signal);
      const reports = client.getPeers().map(describePeer);
      const missing = endpoints.filter(e => !reports.some(r => r.endpoint === e));
      if (parsed.json)
        io.out(JSON.stringify(missing.length > 0 ? { peers: reports, missing } : { peers: reports }) + '\n');
      else
        io.out(reports.map(r => fields([['server', r.peerId], ['endpoint', r.endpoint], ...peerRows(r)])).join('\n'));
      for (const e of missing) io.err(`no server answered at ${e}\n`);
      return missing.length > 0 ? EXIT_FAILED : EXIT_OK;
    });
  },
});

/** Resolves when every endpoint has a server with a session, or after `timeoutMs`. */
function allJoined(client: ClientZmq, endpoints: string[], timeoutMs: number): Promise<void> {
  const done = () => endpoints.every(e => client.getPeers().some(p => p.endpoint === e));
  if (done()) return Promise.resolve();
  return new Promise(resolve => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    client.on('peer:joined', () => {
      if (!done()) return;
      clearTimeout(timer);
      resolve();
    });
  });
}
