import { performance } from 'node:perf_hooks';
import type { ZmqPeerInfo } from '../interfaces/zmq-events.interface.js';
import { EXIT_FAILED, EXIT_OK, expectPositionals } from './args.js';
import { defineCommand } from './command.js';
import { fields, ms, printError } from './output.js';
import { untilAborted, withClient } from './session.js';

/** `ping <endpoint>`: the handshake, what the server says about itself, and a PING round trip. */
export const pingCommand = defineCommand({
  summary: 'handshake with a server: its id, metadata, patterns, events and the round-trip time',
  usage: `Usage: nestjs-zeromq ping <endpoint> [options]

Connects to the server at <endpoint>, completes the handshake, prints what its
WELCOME says (server id, metadata, message patterns, event patterns), sends a
PING and prints the time to its PONG. Exits 1 when the server does not answer.

  nestjs-zeromq ping tcp://127.0.0.1:4001
  nestjs-zeromq ping tcp://127.0.0.1:4001 --json`,
  async run(parsed, io) {
    const [endpoint] = expectPositionals(parsed, 1, 1);
    const started = performance.now();
    return withClient([endpoint!], parsed, io, async client => {
      const handshakeMs = performance.now() - started;
      const [peer] = client.getPeers();
      const [pong] = await untilAborted(client.ping(parsed.timeoutMs), io.signal);
      if (peer === undefined || pong === undefined) throw new Error('the session ended before the PING');
      if (pong.error !== undefined) {
        printError(io, pong.error, parsed.json);
        return EXIT_FAILED;
      }
      const report = { ...describePeer(peer), handshakeMs, rttMs: pong.rttMs! };
      if (parsed.json) io.out(JSON.stringify(report) + '\n');
      else
        io.out(
          fields([
            ['server', `${report.peerId} (${report.endpoint})`],
            ['handshake', ms(handshakeMs)],
            ['rtt', ms(report.rttMs)],
            ...peerRows(report),
          ]),
        );
      return EXIT_OK;
    });
  },
});

/** What `ping` and `peers` print of a server. */
export interface PeerReport {
  peerId: string;
  endpoint: string;
  metadata: Record<string, unknown>;
  patterns: string[];
  events: string[];
}

export function describePeer(peer: ZmqPeerInfo): PeerReport {
  return {
    peerId: peer.peerId,
    endpoint: peer.endpoint ?? '',
    metadata: peer.metadata,
    patterns: peer.patterns ?? [],
    events: peer.events ?? [],
  };
}

export function peerRows(report: PeerReport): Array<[string, string]> {
  const list = (xs: string[]) => (xs.length === 0 ? '(none)' : xs.join(', '));
  return [
    ['metadata', JSON.stringify(report.metadata)],
    ['patterns', list(report.patterns)],
    ['events', list(report.events)],
  ];
}
