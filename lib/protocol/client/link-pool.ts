import { ZmqError, ZmqNoPeerError, ZmqOverloadedError } from '../../errors/zmq.errors.js';
import { nearestName } from '../nearest-name.js';
import type { ZmqStrategy, ZmqTarget } from '../../interfaces/zmq-events.interface.js';
import { matchesTarget, pickPeer } from './routing.js';
import type { UpstreamLink } from './upstream-link.js';

/**
 * The client's links to its servers: all of them, the ready ones in the order
 * they joined, the draining ones (a fallback when no ready one offers a
 * pattern), and the choice of one for a request or event. A retiring link
 * stays in `all` (its calls in flight get their replies) but is never chosen.
 */
export class LinkPool {
  private links: UpstreamLink[] = [];
  private ready: UpstreamLink[] = [];
  private draining: UpstreamLink[] = [];
  private turn = 0;
  /** Requests refused here because every server serving them was throttling. */
  throttled = 0;

  constructor(
    private readonly strategy: ZmqStrategy,
    /** The clock, randomness and restore notice of the links' health; without it, health is ignored. */
    private readonly health?: PoolHealth,
  ) {}

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

  /** Links with a session, draining ones included (for liveness). */
  get liveLinks(): UpstreamLink[] {
    return this.draining.length === 0 ? this.ready : [...this.ready, ...this.draining];
  }

  add(link: UpstreamLink): void {
    this.links.push(link);
  }

  /** `next` takes the place of `previous` (a fresh channel to the same address). */
  replace(previous: UpstreamLink, next: UpstreamLink): void {
    this.remove(previous);
    this.links.push(next);
  }

  /** Takes `link` out of every list. */
  remove(link: UpstreamLink): void {
    const i = this.links.indexOf(link);
    if (i >= 0) this.links.splice(i, 1);
    this.update(link, true);
  }

  /** Removes every link and returns them (for teardown). */
  clear(): UpstreamLink[] {
    const links = this.links;
    this.links = [];
    this.ready = [];
    this.draining = [];
    return links;
  }

  /** Updates the ready and draining lists after `link` changed state (`gone`: out of both). */
  update(link: UpstreamLink, gone = false): void {
    const usable = !gone && this.links.includes(link);
    this.ready = place(this.ready, link, usable && link.isReady);
    this.draining = place(this.draining, link, usable && link.isDraining);
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
    let offered = select(this.ready, pattern, kind, target, out);
    // Draining servers still serve, but only when no other server can (§5.6).
    if (out.length === 0 && this.draining.length > 0)
      offered = select(this.draining, pattern, kind, target, out) || offered;
    if (out.length === 0) {
      const reason = this.ready.length === 0 ? 'no-server' : offered ? 'no-match' : 'not-served';
      throw new ZmqNoPeerError(pattern, reason, reason === 'not-served' ? this.nearest(pattern, kind) : undefined);
    }
    return out;
  }

  /** The pattern a ready or draining server announced (`kind`) that is nearest to `pattern`, for NO_PEER. */
  private nearest(pattern: string, kind: 'serves' | 'handles'): string | undefined {
    const announced = new Set<string>();
    for (const link of [...this.ready, ...this.draining]) {
      const welcome = link.welcome;
      for (const p of (kind === 'serves' ? welcome?.patterns : welcome?.events) ?? []) announced.add(p);
    }
    return nearestName(pattern, announced);
  }

  /**
   * The link for a request: {@link pick} of the {@link candidates} that serve
   * `pattern`, without building the list when a single server is ready.
   */
  pickServing(pattern: string, target: ZmqTarget | undefined): UpstreamLink {
    const only = this.ready.length === 1 && target === undefined ? this.ready[0]! : undefined;
    if (only === undefined || !only.offers(pattern, 'serves')) {
      const candidates = this.healthy(this.candidates(pattern, 'serves', target));
      return this.admit(pattern, this.pick(candidates), candidates);
    }
    this.advanceTurn();
    return this.admit(pattern, only, [only]);
  }

  /** The candidates not ejected (all of them when every one is: better a doubtful server than none). */
  private healthy(candidates: UpstreamLink[]): UpstreamLink[] {
    const health = this.health;
    if (health === undefined || candidates.length === 1) return candidates;
    const now = health.now();
    let ejected = 0;
    for (const link of candidates) {
      if (link.health.restoreDue(now)) health.restored(link);
      else if (link.health.isEjected(now)) ejected++;
    }
    if (ejected === 0 || ejected === candidates.length) return candidates;
    return candidates.filter(link => !link.health.isEjected(now));
  }

  /**
   * `link`, or when it throttles this request (adaptive throttling) another
   * of `candidates` that does not; when all do, OVERLOADED, locally, at once.
   */
  private admit(pattern: string, link: UpstreamLink, candidates: readonly UpstreamLink[]): UpstreamLink {
    const health = this.health;
    if (health === undefined) return link;
    const now = health.now();
    if (!link.health.throttles(now, health.random)) return link;
    for (const other of candidates) {
      if (other !== link && !other.health.throttles(now, health.random)) return other;
    }
    this.throttled++;
    throw new ZmqOverloadedError(pattern, 'client', `server ${link.welcome?.id ?? link.endpoint} refuses most calls`);
  }

  /** One of `candidates`, by the client's strategy. */
  pick(candidates: readonly UpstreamLink[]): UpstreamLink {
    const link = pickPeer(candidates, this.strategy, this.turn);
    this.advanceTurn();
    return link;
  }

  private advanceTurn(): void {
    this.turn = this.turn >= Number.MAX_SAFE_INTEGER ? 0 : this.turn + 1;
  }
}

/** What the pool needs to take the links' health into account. */
export interface PoolHealth {
  now(): number;
  readonly random: () => number;
  /** An ejected link's time is over: it is back in routing. */
  restored(link: UpstreamLink): void;
}

/** Pushes onto `out` the links that offer the pattern and match `target`; whether any offered it. */
function select(
  links: readonly UpstreamLink[],
  pattern: string,
  kind: 'serves' | 'handles',
  target: ZmqTarget | undefined,
  out: UpstreamLink[],
): boolean {
  let offered = false;
  for (const link of links) {
    if (!link.offers(pattern, kind)) continue;
    offered = true;
    const welcome = link.welcome!;
    if (target === undefined || matchesTarget(link, welcome.id, welcome.metadata, target)) out.push(link);
  }
  return offered;
}

/** `list` with `link` in it (appended, keeping join order) or out of it. */
function place(list: UpstreamLink[], link: UpstreamLink, inside: boolean): UpstreamLink[] {
  const i = list.indexOf(link);
  if (inside && i < 0) list.push(link);
  else if (!inside && i >= 0) list.splice(i, 1);
  return list;
}
