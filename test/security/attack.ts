/**
 * Shared pieces of the attack suites in test/security/: a DEALER driven by
 * hand (the attacker), a small served module (the victim's service), and an
 * RSS probe. Each suite runs the attack of one finding of the hardening
 * review against a real ServerZmq on loopback and asserts its bound.
 */
import { Controller, Module } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Dealer } from 'zeromq';
import { EMPTY, ENC, header, HeaderFields, json, ParsedEnvelope, parseEnvelopes, T } from '../helpers/wire';

/** Whether the long forms run (SOAK=1): more inputs, larger floods. */
export const SOAK = process.env.SOAK === '1';

let seq = 0;

/** A DEALER driven by hand, with a bounded wait for each reply it looks for. */
export class RawPeer {
  readonly sock: Dealer;
  readonly id: string;

  constructor(
    endpoint: string,
    options: ConstructorParameters<typeof Dealer>[0] = {},
    id = `attacker-${process.pid}-${++seq}`,
  ) {
    this.sock = new Dealer({ linger: 0, receiveTimeout: 10_000, sendTimeout: 10_000, ...options });
    this.id = id;
    this.sock.connect(endpoint);
  }

  send(frames: Buffer[]): Promise<void> {
    return this.sock.send(frames);
  }

  /** One envelope: a header with `fields`, and its payload. */
  envelope(type: number, fields: HeaderFields, payload: Buffer = EMPTY): Promise<void> {
    return this.send([header(type, fields), payload]);
  }

  /** Envelopes received but not yet looked at (a message may batch several). */
  private readonly pending: ParsedEnvelope[] = [];

  /**
   * The next envelope that matches, skipping those that do not (at most
   * `maxMessages` messages, each within the receive timeout).
   */
  async until(match: (r: ParsedEnvelope) => boolean, maxMessages = 100): Promise<ParsedEnvelope> {
    for (let n = 0; n <= maxMessages; n++) {
      while (this.pending.length > 0) {
        const r = this.pending.shift()!;
        if (match(r)) return r;
      }
      if (n < maxMessages) this.pending.push(...parseEnvelopes(await this.sock.receive(), 0));
    }
    throw new Error(`no matching reply within ${maxMessages} messages`);
  }

  /** HELLO (with `extra` fields), then the WELCOME or the refusal. */
  async hello(extra: Record<string, unknown> = {}, id = this.id): Promise<ParsedEnvelope> {
    const hello = { version: 1, id, metadata: {}, heartbeat: { interval: 1000, liveness: 3 }, ...extra };
    await this.envelope(T.HELLO, { enc: ENC.JSON }, json(hello));
    return this.until(r => r.type === T.WELCOME || (r.type === T.ERROR && r.id === 0));
  }

  /** PING, then the PONG: everything sent before it has been handled (one connection keeps order). */
  async sync(): Promise<void> {
    await this.envelope(T.PING, {});
    await this.until(r => r.type === T.PONG);
  }

  close(): void {
    this.sock.close();
  }
}

/** What the served handlers saw. */
export const runs = { echo: 0, audit: 0 };

@Controller()
export class VictimController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown) {
    runs.echo++;
    return data;
  }

  @EventPattern('audit')
  audit(@Payload() _data: unknown) {
    runs.audit++;
  }
}

@Module({ controllers: [VictimController] })
export class VictimModule {}

/** Resident set size in MiB after a full collection (`--expose-gc` when available). */
export function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / (1024 * 1024);
}
