import { Scheduler, settleWithin } from '../clock.js';
import { BYE } from '../envelopes.js';
import type { OutEnvelope } from '../frames.js';
import type { DownstreamSession } from './sessions.js';

/**
 * The clients a closing server waits for (docs/PROTOCOL.md §10): those that
 * took `bye-ack`, until each has answered its BYE or its connection is gone.
 */
export class AwaitedByes {
  private readonly keys = new Set<string>();
  private settle: (() => void) | undefined;

  /** Waits for the client with this routing-id key. */
  add(key: string): void {
    this.keys.add(key);
  }

  /** The client answered (or left): one fewer to wait for. */
  answered(key: string): void {
    if (this.keys.delete(key) && this.keys.size === 0) this.settle?.();
  }

  /** Resolves when every awaited client answered, or after `ms`. */
  wait(scheduler: Scheduler, ms: number): Promise<void> {
    if (this.keys.size === 0) return Promise.resolve();
    return settleWithin(scheduler, ms, settle => (this.settle = settle));
  }
}

/**
 * Says BYE to every session and ends it (`bye`: its calls are cancelled);
 * returns the clients (`bye-ack`) whose answering BYE to wait for.
 */
export function sayByeToAll(
  sessions: Iterable<DownstreamSession>,
  send: (session: DownstreamSession, env: OutEnvelope) => void,
  end: (session: DownstreamSession) => void,
): AwaitedByes {
  const byes = new AwaitedByes();
  for (const session of [...sessions]) {
    send(session, BYE);
    if (session.byeAck) byes.add(session.key);
    end(session);
  }
  return byes;
}
