/**
 * A closing ROUTER's proof that its BYEs arrived (docs/PROTOCOL.md §10).
 * ZeroMQ hands a message to its I/O thread and returns, so a process that
 * exits right after closing its socket may lose what it said last. A peer that
 * took `bye-ack` answers the BYE itself; for every other peer the socket sends
 * a PING after the BYE and waits for the PONG: a peer answers PING with or
 * without a session, and a connection keeps order, so the PONG proves the BYE
 * arrived. A peer whose connection ends is no longer waited for.
 */
import { MessageType, type OutEnvelope } from '../protocol/frames.js';
import { HEADER_FIXED_BYTES } from '../protocol/frames.js';
import { PROTOCOL_VERSION } from '../protocol/limits.js';

/**
 * Most peers remembered as told BYE: a peer that closed after our answer to its
 * BYE is forgotten when its connection's end is reported, which a libzmq
 * without ZMQ_ROUTER_NOTIFY never does; the oldest are forgotten past this.
 */
const MAX_TOLD = 16_384;

/** `told`: BYE written, no proof asked yet; `pinged`: the PING after it written, its PONG awaited. */
type Proof = { kind: 'told'; destination: Buffer } | { kind: 'pinged' };

export class ByeProofs {
  private readonly peers = new Map<string, Proof>();
  private settle: (() => void) | undefined;

  /** A message went to `destination`: a BYE in it starts a wait, the PING asked for moves it on. */
  written(envelopes: readonly OutEnvelope[], destination: Buffer): void {
    for (const env of envelopes) {
      const key = destination.toString('latin1');
      if (env.type === MessageType.Bye) this.told(key, destination);
      else if (env.type === MessageType.Ping && this.peers.get(key)?.kind === 'told')
        this.peers.set(key, { kind: 'pinged' });
    }
  }

  private told(key: string, destination: Buffer): void {
    this.peers.delete(key);
    this.peers.set(key, { kind: 'told', destination });
    if (this.peers.size > MAX_TOLD) this.peers.delete(this.peers.keys().next().value!);
  }

  /** A message could not go to `destination` (the peer is gone): nothing to wait for. */
  failed(destination: Buffer | undefined): void {
    if (destination !== undefined) this.done(destination.toString('latin1'));
  }

  /** A received message (routing id first): a BYE, a PONG after the PING, or the connection's end notice. */
  received(frames: readonly Buffer[]): void {
    if (this.peers.size === 0 || frames.length === 0) return;
    const key = frames[0]!.toString('latin1');
    const proof = this.peers.get(key);
    if (proof === undefined) return;
    if (frames.length === 2 && frames[1]!.length === 0) return this.done(key); // ZMQ_ROUTER_NOTIFY
    for (let i = 1; i < frames.length; i += 2) {
      const header = frames[i]!;
      if (header.length < HEADER_FIXED_BYTES || header[0] !== PROTOCOL_VERSION) continue;
      if (header[1] === MessageType.Bye || (header[1] === MessageType.Pong && proof.kind === 'pinged'))
        return this.done(key);
    }
  }

  /**
   * Sends PING to every peer told BYE that has not answered, then waits until
   * each has (or its connection ended), at most `ms`.
   */
  async prove(ping: (destination: Buffer) => boolean, ms: number): Promise<void> {
    for (const [key, proof] of [...this.peers]) {
      if (proof.kind === 'told' && !ping(proof.destination)) this.peers.delete(key);
    }
    if (this.peers.size === 0) return;
    await new Promise<void>(resolve => {
      const timer = setTimeout(finish, ms);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.settle = finish;
    });
    this.settle = undefined;
    this.peers.clear();
  }

  private done(key: string): void {
    if (this.peers.delete(key) && this.peers.size === 0) this.settle?.();
  }
}
