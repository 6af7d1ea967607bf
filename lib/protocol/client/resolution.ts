import type { SessionObserver } from '../channel.js';
import { answerEndpoints } from './endpoint-set.js';
import { FAST_RECONNECT_MS, NOTICED_HELLO_RETRY_MS } from '../tuning.js';

/**
 * Decisions of name resolution and of the reconnect backoff, as pure
 * functions over what the engine knows (docs/PROTOCOL.md §10, Reconnect).
 */

/** What a link looks like to the backoff decisions. */
export interface LinkView {
  /** The link has a session (ready or draining). */
  readonly live: boolean;
  /** Envelopes still in its own queue: a HELLO there means no connection is up (ZMQ_IMMEDIATE). */
  readonly queued: number;
  /** Until when its channel reconnects fast (after its server left), if it does. */
  readonly fastUntil: number | undefined;
}

/**
 * The addresses to use after an answer: a failed or empty answer keeps the
 * previous ones (a DNS hiccup, or a headless Service between two pods, must
 * not close every link); `undefined` for the answer means it failed.
 */
export function nextAddresses(previous: readonly string[], answer: readonly string[] | undefined): readonly string[] {
  return answer === undefined || answer.length === 0 ? previous : answer;
}

/**
 * Whether a resolution that still lists this link's address gives it a fresh
 * channel (libzmq's backoff starts again at `reconnectInterval`): when it has
 * no connection and is not already reconnecting fast.
 */
export function refreshOnResolve(link: LinkView): boolean {
  return !link.live && link.queued > 0 && link.fastUntil === undefined;
}

/**
 * Whether a link whose fast window has passed goes back to the user's
 * backoff (a channel with the configured reconnect intervals).
 */
export function fastWindowOver(link: LinkView, now: number): boolean {
  return link.fastUntil !== undefined && now >= link.fastUntil;
}

/**
 * Asks `resolve` for the addresses of `host`: the endpoints of its answer,
 * or `undefined` (warned) when it threw, rejected or answered no array.
 * Never rejects.
 */
export async function resolveName(
  resolve: (host: string) => Promise<string[]>,
  host: string,
  port: string,
  observer: Pick<SessionObserver, 'warn'>,
): Promise<string[] | undefined> {
  try {
    const answer: unknown = await resolve(host);
    if (Array.isArray(answer)) return answerEndpoints(answer, port);
    observer.warn(`The resolver answered no list of addresses for ${host}`);
  } catch (err) {
    observer.warn(`Cannot resolve ${host}: ${String(err)}`);
  }
  return undefined;
}

/**
 * How often a link without a session says HELLO again (§10). A channel that
 * reports its connection's end re-sends HELLO then, which is when one is lost:
 * it retries only now and then (HELLOs queued while no server listens all go
 * out when one does). Else every heartbeat interval, and every
 * FAST_RECONNECT_MS while its server is expected back.
 */
export function retryInterval(
  link: { readonly channel: { readonly notices?: boolean } },
  fast: boolean,
  interval: number,
): number {
  if (link.channel.notices === true) return Math.max(interval, NOTICED_HELLO_RETRY_MS);
  return fast ? FAST_RECONNECT_MS : interval;
}

/** What the resolution rules read of a link (`fastUntil`: the end of its fast window, if in one). */
export function linkView(link: {
  readonly welcome?: unknown;
  readonly fastUntil?: number;
  readonly state: { readonly kind: string };
  readonly channel: { readonly notices?: boolean; readonly queued: number };
}): LinkView {
  // A HELLO waiting in libzmq (a channel with notices queues there) is not seen: handshaking counts as waiting.
  const waiting = link.channel.notices === true && link.state.kind === 'handshaking' ? 1 : link.channel.queued;
  return { live: link.welcome !== undefined, queued: waiting, fastUntil: link.fastUntil };
}
