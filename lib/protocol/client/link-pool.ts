import { ZmqError, ZmqNoPeerError } from '../../errors/zmq.errors.js';
import type { ZmqStrategy, ZmqTarget } from '../../interfaces/zmq-events.interface.js';
import { matchesTarget, pickPeer } from './routing.js';
import type { UpstreamLink } from './upstream-link.js';

/**
 * The client's links to its servers: all of them, the ready ones in the order
 * they joined, and the choice of one for a request or event.
 */
export class LinkPool {
  private links: UpstreamLink[] = [];
  private ready: UpstreamLink[] = [];
  private turn = 0;

  constructor(private readonly strategy: ZmqStrategy) {}

  get all(): readonly UpstreamLink[] {
    return this.links;
  }

  /** Links with a session, in the order they joined. */
  get readyLinks(): readonly UpstreamLink[] {
    return this.ready;
  }

  /** Envelopes queued on every link. */
  get queued(): number {
    let queued = 0;
    for (const l of this.links) queued += l.channel.queued;
    return queued;
  }

  get isEmpty(): boolean {
    return this.links.length === 0;
  }

  add(link: UpstreamLink): void {
    this.links.push(link);
  }

  /** Removes every link and returns them (for teardown). */
  clear(): UpstreamLink[] {
    const links = this.links;
    this.links = [];
    this.ready = [];
    return links;
  }

  /** Updates the ready set after `link` changed state. */
  update(link: UpstreamLink): void {
    const i = this.ready.indexOf(link);
    if (link.isReady && i < 0) this.ready.push(link);
    else if (!link.isReady && i >= 0) this.ready.splice(i, 1);
  }

  /** The refusal to report when every link was refused; `undefined` while one may still succeed. */
  refusal(): ZmqError | undefined {
    if (this.links.length === 0) return undefined;
    for (const link of this.links) if (link.refusal === undefined) return undefined;
    return this.links[0]!.refusal;
  }

  /**
   * The ready links that serve (`serves`) or handle (`handles`) the pattern
   * and match `target`. Throws NO_PEER, naming the pattern, when none does.
   */
  candidates(pattern: string, kind: 'serves' | 'handles', target: ZmqTarget | undefined): UpstreamLink[] {
    const out: UpstreamLink[] = [];
    let offered = false;
    for (const link of this.ready) {
      if (!link.offers(pattern, kind)) continue;
      offered = true;
      const welcome = link.welcome!;
      if (target === undefined || matchesTarget(link, welcome.id, welcome.metadata, target)) out.push(link);
    }
    if (out.length === 0) {
      throw new ZmqNoPeerError(pattern, this.ready.length === 0 ? 'no-server' : offered ? 'no-match' : 'not-served');
    }
    return out;
  }

  /** One of `candidates`, by the client's strategy. */
  pick(candidates: readonly UpstreamLink[]): UpstreamLink {
    const link = pickPeer(candidates, this.strategy, this.turn);
    this.turn = this.turn >= Number.MAX_SAFE_INTEGER ? 0 : this.turn + 1;
    return link;
  }
}
