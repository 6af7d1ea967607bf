import type { SessionObserver } from '../channel.js';
import { answerEndpoints } from './endpoint-set.js';

/**
 * Decisions of name resolution and of the reconnect backoff, as pure
 * functions over what the engine knows (docs/PROTOCOL.md §9, Reconnect).
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
