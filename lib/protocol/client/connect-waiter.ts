import { ZmqConnectRefusedError, ZmqConnectSeen, ZmqConnectTimeoutError } from '../../errors/zmq.errors.js';
import type { ZmqEndpointInfo } from '../../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../channel.js';
import type { Scheduler } from '../clock.js';
import { CONNECT_PROBE_DELAY_MS, CONNECT_PROBE_ROUND_MS, CONNECT_PROBE_TIMEOUT_MS } from '../tuning.js';
import { ConnectDiagnostics, everyRefused, ProbeResult, probeEndpoint, seenOf } from './connect-probe.js';

/** What the waiter needs: its timers, where refusals are reported, and (optionally) how to probe the endpoints. */
export interface ConnectWaiterDeps {
  readonly scheduler: Scheduler;
  readonly observer: Pick<SessionObserver, 'warn' | 'connectRefused'>;
  /** Without it nothing is probed: a wait ends with a session, a refusal, close or the timeout. */
  readonly diagnostics?: ConnectDiagnostics | undefined;
  /** The engine's resolver, for a name with no address yet when it is probed. */
  readonly resolve?: ((host: string) => Promise<string[]>) | undefined;
}

interface Waiting {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  timer: unknown;
  probeTimer: unknown;
  /** Per configured endpoint, what its probe met, once the probe is over. */
  found: ReadonlyMap<string, ProbeResult> | undefined;
}

const SILENT: ProbeResult = { kind: 'silent' };

/**
 * The one pending `connect()`: settled once, by the first session
 * (`resolve`), every server's refusal or close (`reject`), nothing accepting
 * connections at any endpoint, or the connect timeout. When no session came
 * within CONNECT_PROBE_DELAY_MS, each endpoint gets one short connection
 * attempt: when every one of them is refused the wait ends at once with
 * CONNECT_REFUSED, and a CONNECT_TIMEOUT says what each endpoint met.
 */
export class ConnectWaiter {
  private waiting: Waiting | undefined;
  /** Refusals found per endpoint since the client was made (`connect:refused`'s `attempts`). */
  private readonly refusals = new Map<string, number>();

  constructor(private readonly deps: ConnectWaiterDeps) {}

  /**
   * A promise settled as described above. `endpoints` gives the configured
   * endpoints and their addresses when they are probed; `giveUp` runs when
   * the wait ends without a session (the timeout, or nothing accepting
   * connections) and gives the error to reject with (e.g. a refusal the
   * engine knows of instead).
   */
  wait(timeoutMs: number, endpoints: () => readonly ZmqEndpointInfo[], giveUp: (err: Error) => Error): Promise<void> {
    const { scheduler, diagnostics } = this.deps;
    return new Promise<void>((resolve, reject) => {
      const w: Waiting = { resolve, reject, timer: undefined, probeTimer: undefined, found: undefined };
      w.timer = scheduler.setTimeout(
        () => this.end(w, this.timeoutError(w, endpoints(), timeoutMs), giveUp),
        timeoutMs,
      );
      if (diagnostics !== undefined) {
        const delay = Math.min(CONNECT_PROBE_DELAY_MS, timeoutMs / 2);
        w.probeTimer = scheduler.setTimeout(() => this.probe(w, diagnostics, endpoints(), giveUp), delay);
      }
      this.waiting = w;
    });
  }

  /** Settles the wait, if one is pending; returns whether one was. */
  resolve(): boolean {
    const w = this.take();
    w?.resolve();
    return w !== undefined;
  }

  reject(err: Error): boolean {
    const w = this.take();
    w?.reject(err);
    return w !== undefined;
  }

  private end(w: Waiting, err: Error, giveUp: (err: Error) => Error): void {
    if (this.waiting !== w) return;
    this.reject(giveUp(err));
  }

  private take() {
    const w = this.waiting;
    if (w === undefined) return undefined;
    this.waiting = undefined;
    this.deps.scheduler.clearTimeout(w.timer);
    this.deps.scheduler.clearTimeout(w.probeTimer);
    return w;
  }

  /** One attempt per endpoint, all of them over within CONNECT_PROBE_ROUND_MS (what is not over met nothing). */
  private probe(
    w: Waiting,
    diagnostics: ConnectDiagnostics,
    infos: readonly ZmqEndpointInfo[],
    giveUp: (err: Error) => Error,
  ): void {
    const { scheduler } = this.deps;
    const results = new Map<string, ProbeResult>();
    let left = infos.length;
    let over = false;
    const finish = () => {
      if (over) return;
      over = true;
      scheduler.clearTimeout(w.probeTimer);
      for (const info of infos) if (!results.has(info.endpoint)) results.set(info.endpoint, SILENT);
      if (this.waiting === w) this.probed(w, diagnostics, results, giveUp);
    };
    w.probeTimer = scheduler.setTimeout(finish, CONNECT_PROBE_ROUND_MS);
    if (left === 0) return finish();
    for (const info of infos) {
      void probeEndpoint(info, diagnostics.probe, this.deps.resolve)
        .catch((err: unknown): ProbeResult => ({ kind: 'failed', code: String(err) }))
        .then(result => {
          if (over) return;
          results.set(info.endpoint, result);
          if (--left === 0) finish();
        });
    }
  }

  /** Reports each endpoint found refusing; ends the wait with CONNECT_REFUSED when every one does. */
  private probed(
    w: Waiting,
    diagnostics: ConnectDiagnostics,
    results: ReadonlyMap<string, ProbeResult>,
    giveUp: (err: Error) => Error,
  ): void {
    w.found = results;
    const refused = [...results].filter(([, result]) => result.kind === 'refused');
    for (const [endpoint] of refused) {
      const attempts = (this.refusals.get(endpoint) ?? 0) + 1;
      this.refusals.set(endpoint, attempts);
      this.deps.observer.connectRefused?.(endpoint, attempts);
    }
    // A `connect:refused` listener may have closed the client.
    if (this.waiting !== w) return;
    if (everyRefused([...results.values()])) {
      const seen = seenAll(results, diagnostics.curve, CONNECT_PROBE_TIMEOUT_MS);
      return this.end(w, new ZmqConnectRefusedError([...results.keys()], seen), giveUp);
    }
    for (const [endpoint, result] of refused) {
      const text = seenOf(endpoint, result, diagnostics.curve, CONNECT_PROBE_TIMEOUT_MS)!.detail;
      this.deps.observer.warn(`${capitalized(text)}; connect() waits for the other endpoints`, 'connect-refused');
    }
  }

  private timeoutError(w: Waiting, infos: readonly ZmqEndpointInfo[], timeoutMs: number): ZmqConnectTimeoutError {
    const endpoints = infos.map(i => i.endpoint);
    const curve = this.deps.diagnostics?.curve ?? false;
    const seen = w.found === undefined ? [] : seenAll(w.found, curve, CONNECT_PROBE_TIMEOUT_MS);
    return new ZmqConnectTimeoutError(endpoints, timeoutMs, undefined, seen);
  }
}

function seenAll(results: ReadonlyMap<string, ProbeResult>, curve: boolean, waitedMs: number): ZmqConnectSeen[] {
  const seen: ZmqConnectSeen[] = [];
  for (const [endpoint, result] of results) {
    const s = seenOf(endpoint, result, curve, waitedMs);
    if (s !== undefined) seen.push(s);
  }
  return seen;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
