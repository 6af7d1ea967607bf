import type { ZmqEndpointInfo } from '../../interfaces/zmq-events.interface.js';
import type { ChannelHandlers, ConnectChannel, SessionObserver } from '../channel.js';
import type { Clock, Scheduler } from '../clock.js';
import { DRAIN } from '../envelopes.js';
import type { Welcome } from '../handshake.js';
import { DEFAULT_RESOLVE_INTERVAL } from '../../defaults.js';
import { BYE_ACK_WAIT_MS, FAST_RECONNECT_MS, RETIRE_WAIT_MS, RETURN_WINDOW_MS } from '../tuning.js';
import type { ClientEngineConfig } from './client-deps.js';
import { diffEndpoints, EndpointTarget, targetOf } from './endpoint-set.js';
import type { LinkPool } from './link-pool.js';
import { fastWindowOver, linkView, nextAddresses, refreshOnResolve, resolveName, retryInterval } from './resolution.js';
import { linkHello } from './hello.js';
import { UpstreamLink } from './upstream-link.js';

/** What the endpoint manager needs of its engine. */
export interface EndpointHost {
  readonly config: ClientEngineConfig;
  readonly pool: LinkPool;
  readonly connect: ConnectChannel;
  readonly observer: SessionObserver;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Resolves a host name to addresses; without one, names are left to libzmq (one address). */
  readonly resolve: ((host: string) => Promise<string[]>) | undefined;
  receive(link: UpstreamLink, frames: Buffer[]): void;
  /** The transport saw the connection of `link` end. */
  disconnected(link: UpstreamLink): void;
  /** A link with a session leaves the pool for good: its calls fail, `peer:left` (`bye`). */
  retired(link: UpstreamLink, welcome: Welcome): void;
}

/** One endpoint as configured or added, and the link of each address it stands for. */
interface Entry {
  /** Unique per entry: its links' instance slots are keyed by it (the n-th configured endpoint is n). */
  readonly id: number;
  readonly target: EndpointTarget;
  /** By address endpoint (the endpoint itself for a literal one). */
  readonly links: Map<string, UpstreamLink>;
  resolving: boolean;
}

/**
 * Owns the membership of the engine's {@link LinkPool}: a link per literal
 * endpoint and per address of a named one (resolved every `resolveInterval`,
 * and at once when every server is gone), endpoints added and removed at run
 * time, links removed only after their calls in flight ended, the HELLO retry
 * tick, and fresh channels that reset libzmq's reconnect backoff.
 */
export class EndpointManager {
  private readonly entries: Entry[];
  /** Instance slot of each (endpoint, address): stable across close()/connect() and re-resolutions. */
  private readonly slots = new Map<string, number>();
  private tickTimer: unknown = undefined;
  private tickDelay = 0;
  private entryCount = 0;
  private resolveTimer: unknown = undefined;
  private generation = 0;
  private closing: Promise<unknown> = Promise.resolve();
  running = false;

  constructor(private readonly host: EndpointHost) {
    this.entries = host.config.endpoints.map(e => this.entry(e));
    // A literal endpoint keeps the slot of its place in `connect`, whatever names resolve to.
    this.entries.forEach(e => this.slots.set(`${e.id} ${e.target.endpoint}`, e.id));
  }

  /** Opens every endpoint's links (a name's once resolved) and starts the ticks. Throws for a malformed endpoint. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    this.armTick();
    this.armResolve();
    for (const entry of this.entries) this.open(entry, true);
  }

  /** Stops the ticks; the pool's links are the engine's to close. Resolves when the links closed here are. */
  stop(): Promise<void> {
    this.running = false;
    this.generation++;
    this.host.scheduler.clearTimeout(this.tickTimer);
    this.host.scheduler.clearTimeout(this.resolveTimer);
    for (const entry of this.entries) {
      entry.links.clear();
      entry.resolving = false;
    }
    return this.closing.then(() => undefined);
  }

  /** Adds an endpoint (opened at once when running); false when it is already there. */
  add(endpoint: string): boolean {
    if (this.find(endpoint) !== undefined) return false;
    const entry = this.entry(endpoint);
    this.entries.push(entry);
    if (this.running) this.open(entry, true);
    return true;
  }

  /** Removes an endpoint: its links take no new request, and close once their calls ended. False when unknown. */
  remove(endpoint: string): boolean {
    const entry = this.find(endpoint);
    if (entry === undefined) return false;
    this.entries.splice(this.entries.indexOf(entry), 1);
    for (const link of entry.links.values()) this.retire(link);
    entry.links.clear();
    return true;
  }

  list(): ZmqEndpointInfo[] {
    return this.entries.map(e => ({ endpoint: e.target.endpoint, addresses: [...e.links.keys()] }));
  }

  /** Every server is gone: resolve the names again now. */
  allDown(): void {
    if (this.running) this.resolveAll();
  }

  /** The server of `link` left (BYE, or found dead): a fresh channel that reconnects fast for a while. */
  returning(link: UpstreamLink): void {
    if (this.running && link.state.kind !== 'retiring') this.refresh(link, true);
  }

  /** The server of `link` said DRAIN: answer it (ours then reached it); no new requests while another can take them. */
  draining(link: UpstreamLink): void {
    const welcome = link.welcome;
    if (welcome === undefined) return;
    link.trySend(DRAIN, true);
    if (!link.drain()) return;
    this.host.pool.update(link);
    this.host.observer.draining?.(link.event(welcome));
  }

  private entry(endpoint: string): Entry {
    const target = this.host.resolve === undefined ? { kind: 'literal' as const, endpoint } : targetOf(endpoint);
    return { id: this.entryCount++, target, links: new Map(), resolving: false };
  }

  private find(endpoint: string): Entry | undefined {
    return this.entries.find(e => e.target.endpoint === endpoint);
  }

  private open(entry: Entry, throwing: boolean): void {
    if (entry.target.kind === 'name') return this.resolveEntry(entry);
    try {
      this.openAddress(entry, entry.target.endpoint, false);
    } catch (err) {
      if (throwing) throw err;
      this.host.observer.error(`Cannot connect to ${entry.target.endpoint}: ${(err as Error).message}`);
    }
  }

  private resolveAll(): void {
    for (const entry of this.entries) if (entry.target.kind === 'name') this.resolveEntry(entry);
  }

  private resolveEntry(entry: Entry): void {
    const { target } = entry;
    if (target.kind !== 'name' || entry.resolving) return;
    entry.resolving = true;
    const generation = this.generation;
    const settle = (answer: readonly string[] | undefined): void => {
      if (generation !== this.generation || !this.entries.includes(entry)) return;
      entry.resolving = false;
      this.apply(entry, nextAddresses([...entry.links.keys()], answer));
    };
    void resolveName(this.host.resolve!, target.host, target.port, this.host.observer).then(settle);
  }

  /** Links for new addresses, removal for vanished ones, a fresh channel for a kept one without a connection. */
  private apply(entry: Entry, endpoints: readonly string[]): void {
    const diff = diffEndpoints(entry.links.keys(), endpoints);
    for (const address of diff.removed) {
      const link = entry.links.get(address)!;
      entry.links.delete(address);
      this.retire(link);
    }
    for (const address of diff.kept) {
      const link = entry.links.get(address)!;
      if (refreshOnResolve(linkView(link))) this.refresh(link, false);
    }
    for (const address of diff.added) {
      try {
        this.openAddress(entry, address, false);
      } catch (err) {
        this.host.observer.error(`Cannot connect to ${address}: ${(err as Error).message}`);
      }
    }
  }

  private openAddress(entry: Entry, address: string, fast: boolean): UpstreamLink {
    const link = this.openLink(address, this.slotOf(entry, address), fast);
    entry.links.set(address, link);
    this.host.pool.add(link);
    return link;
  }

  private slotOf(entry: Entry, address: string): number {
    const key = `${entry.id} ${address}`;
    let slot = this.slots.get(key);
    if (slot === undefined) this.slots.set(key, (slot = this.slots.size));
    return slot;
  }

  private openLink(endpoint: string, slot: number, fast: boolean): UpstreamLink {
    const { observer, clock } = this.host;
    const handlers: ChannelHandlers = {
      message: frames => this.host.receive(link, frames),
      sendFailed: (_failure, envs) =>
        observer.drop('sendFailed', `${envs.length} envelope(s) to ${endpoint}`, envs.length),
      receiveError: err => observer.error(`Receive loop error on ${endpoint}: ${String(err)}`),
      disconnected: () => this.host.disconnected(link),
    };
    const channel = this.host.connect(endpoint, handlers, fast ? { fastReconnect: true } : undefined);
    // `link` is read only when a message arrives, which is never during this call.
    const link: UpstreamLink = new UpstreamLink(
      endpoint,
      channel,
      linkHello(this.host.config, slot, endpoint),
      observer,
      fast ? clock.now() + RETURN_WINDOW_MS : undefined,
    );
    if (fast && this.running && this.tickDelay > FAST_RECONNECT_MS) this.armTick();
    link.sendHello(clock.now()); // it waits until a connection is up
    return link;
  }

  /** A fresh channel to the same address (libzmq's backoff starts again); `link` has no session. */
  private refresh(link: UpstreamLink, fast: boolean): void {
    for (const entry of this.entries) {
      for (const [address, current] of entry.links) {
        if (current !== link) continue;
        let next: UpstreamLink;
        try {
          next = this.openLink(address, this.slotOf(entry, address), fast);
        } catch (err) {
          return this.host.observer.error(`Cannot reconnect to ${address}: ${(err as Error).message}`);
        }
        entry.links.set(address, next);
        this.host.pool.replace(link, next);
        this.track(link.close(this.host.scheduler, 0));
        return;
      }
    }
  }

  /** Takes `link` out of routing; it closes once its calls in flight ended (at most RETIRE_WAIT_MS). */
  private retire(link: UpstreamLink): void {
    if (!link.retire(this.host.clock.now() + RETIRE_WAIT_MS)) return this.closeLink(link);
    this.host.pool.update(link);
  }

  private closeLink(link: UpstreamLink): void {
    const welcome = link.welcome;
    this.host.pool.remove(link);
    if (welcome !== undefined) this.host.retired(link, welcome);
    this.track(link.close(this.host.scheduler, BYE_ACK_WAIT_MS));
  }

  private track(closed: Promise<void>): void {
    this.closing = Promise.all([this.closing, closed]);
  }

  /** Every heartbeat interval (or FAST_RECONNECT_MS): HELLO again where no session is, retirements, fast windows. */
  private armTick(): void {
    const interval = this.host.config.heartbeat.interval;
    const fast = this.host.pool.all.some(link => link.fastUntil !== undefined);
    this.tickDelay = fast ? Math.min(interval, FAST_RECONNECT_MS) : interval;
    this.host.scheduler.clearTimeout(this.tickTimer);
    this.tickTimer = this.host.scheduler.setTimeout(() => {
      const now = this.host.clock.now();
      for (const link of [...this.host.pool.all]) {
        const state = link.state;
        if (state.kind === 'retiring') {
          if (link.pending === 0 || now >= state.deadline || state.session === undefined) this.closeLink(link);
        } else if (state.kind === 'handshaking' && fastWindowOver(linkView(link), now)) {
          this.refresh(link, false);
        } else if (state.kind === 'refused' && state.retryAt !== undefined && now >= state.retryAt) {
          link.sendHello(now);
        }
      }
      for (const link of this.host.pool.all)
        link.retryHello(now, retryInterval(link, link.fastUntil !== undefined, interval));
      this.armTick();
    }, this.tickDelay);
  }

  /** Every `resolveInterval`, the names are resolved again. */
  private armResolve(): void {
    if (this.host.resolve === undefined) return;
    this.resolveTimer = this.host.scheduler.setTimeout(() => {
      this.resolveAll();
      this.armResolve();
    }, this.host.config.resolveInterval ?? DEFAULT_RESOLVE_INTERVAL);
  }
}
