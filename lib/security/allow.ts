import { ZmqOptionsError } from '../errors/zmq.errors.js';
import type { ZmqAllow, ZmqCurvePeer } from '../interfaces/zmq-options.interface.js';
import { realScheduler, Scheduler } from '../protocol/clock.js';
import { curveKeyBytes, peerKeyProblem } from './keys.js';

/** How long an `allow` function may take to decide one handshake before the peer is refused. */
export const ALLOW_DECISION_TIMEOUT_MS = 5_000;

/** Most keys a function-form policy remembers as admitted (for their HELLO); the oldest go first. */
const MAX_ADMITTED = 65_536;

/** `allow`, checked: `'*'`, a list of CURVE keys, or a function. */
type Policy =
  | { readonly kind: 'any' }
  | { readonly kind: 'list'; readonly keys: ReadonlySet<string> }
  | { readonly kind: 'fn'; readonly decide: (peer: ZmqCurvePeer) => boolean | Promise<boolean> };

/** Checks an `allow` value (option or `setAllow()` argument); throws a {@link ZmqOptionsError} naming `option`. */
export function checkAllow(allow: unknown, option = 'allow'): ZmqAllow {
  if (allow === '*' || typeof allow === 'function') return allow as ZmqAllow;
  if (Array.isArray(allow)) {
    allow.forEach((key, i) => {
      const bytes = curveKeyBytes(key);
      if (bytes === undefined) {
        throw new ZmqOptionsError(option, `"${option}[${i}]" must be a CURVE public key: 40 characters of Z85`);
      }
      const problem = peerKeyProblem(bytes);
      if (problem !== undefined)
        throw new ZmqOptionsError(option, `"${option}[${i}]" is ${problem}: no client can hold it`);
    });
    return Object.freeze([...(allow as string[])]);
  }
  throw new ZmqOptionsError(
    option,
    `"${option}" must be a list of client public keys, a function (peer) => boolean | Promise<boolean>, or '*' (any client with a key pair: encryption without authentication)`,
  );
}

function keyProblem(publicKey: string): string | undefined {
  const bytes = curveKeyBytes(publicKey);
  return bytes === undefined ? 'not a CURVE key' : peerKeyProblem(bytes);
}

function policyOf(allow: ZmqAllow): Policy {
  if (allow === '*') return { kind: 'any' };
  if (typeof allow === 'function') return { kind: 'fn', decide: allow };
  return { kind: 'list', keys: new Set(allow) };
}

/** What a {@link KeyAuthority} tells its server. */
export interface AuthorityReport {
  /** A handshake was refused: `publicKey` is not allowed (the server emits `peer:refused`). */
  refused(peer: ZmqCurvePeer, reason: string): void;
  /** An `allow` function threw, rejected or took too long (the peer was refused). */
  error(message: string): void;
}

/**
 * The server's allow-list (pure: no zeromq). The ZAP handler asks
 * {@link admit} at every CURVE handshake; the session layer asks
 * {@link admits} at every HELLO, so a key removed at run time cannot open a
 * session on a connection that is still up. Anything unexpected refuses:
 * the list fails closed.
 */
export class KeyAuthority {
  private policy: Policy;
  /** Function form: keys its latest decision admitted (the HELLO after the CURVE handshake needs it). */
  private readonly admitted = new Set<string>();
  private generation = 0;

  constructor(
    allow: ZmqAllow,
    private readonly report: AuthorityReport,
    private readonly scheduler: Scheduler = realScheduler,
    private readonly timeoutMs = ALLOW_DECISION_TIMEOUT_MS,
  ) {
    this.policy = policyOf(checkAllow(allow));
  }

  /** Replaces the policy; it applies to handshakes from now on (sessions up now stay up). */
  set(allow: ZmqAllow): void {
    this.policy = policyOf(checkAllow(allow, 'setAllow'));
    this.admitted.clear();
    this.generation++;
  }

  /** Whether a CURVE handshake by `peer` may go on; a refusal is reported. Never rejects. */
  async admit(peer: ZmqCurvePeer): Promise<boolean> {
    // X25519 treats several byte forms as one key: decide on the canonical form only, and never on a low-order point.
    const problem = keyProblem(peer.publicKey);
    if (problem !== undefined) {
      this.report.refused(peer, `its public key is ${problem}`);
      return false;
    }
    // A policy replaced while a function decided: decide again under the new one (bounded).
    for (let attempt = 0; attempt < 3; attempt++) {
      const generation = this.generation;
      const ok = await this.decide(peer);
      if (generation !== this.generation) continue;
      if (ok && this.policy.kind === 'fn') this.remember(peer.publicKey);
      if (!ok) this.report.refused(peer, 'its public key is not on the allow-list');
      return ok;
    }
    this.report.refused(peer, 'the allow-list kept changing during its handshake');
    return false;
  }

  /** Whether a HELLO that proved `publicKey` may open a session now. */
  admits(publicKey: string): boolean {
    const policy = this.policy;
    if (policy.kind === 'any') return true;
    if (policy.kind === 'list') return policy.keys.has(publicKey);
    return this.admitted.has(publicKey);
  }

  /** Forgets that the function form admitted `publicKey` (after `disconnect()`): it must handshake again. */
  revoke(publicKey: string): void {
    this.admitted.delete(publicKey);
  }

  private decide(peer: ZmqCurvePeer): Promise<boolean> {
    const policy = this.policy;
    if (policy.kind === 'any') return Promise.resolve(true);
    if (policy.kind === 'list') return Promise.resolve(policy.keys.has(peer.publicKey));
    return new Promise<boolean>(resolve => {
      const timer = this.scheduler.setTimeout(() => {
        this.report.error(`The allow function did not decide within ${this.timeoutMs} ms; refused ${peer.publicKey}`);
        resolve(false);
      }, this.timeoutMs);
      const settle = (ok: boolean) => {
        this.scheduler.clearTimeout(timer);
        resolve(ok);
      };
      try {
        Promise.resolve(policy.decide({ ...peer })).then(
          ok => settle(ok === true),
          (err: unknown) => {
            this.report.error(`The allow function failed; refused ${peer.publicKey}: ${String(err)}`);
            settle(false);
          },
        );
      } catch (err) {
        this.report.error(`The allow function threw; refused ${peer.publicKey}: ${String(err)}`);
        settle(false);
      }
    });
  }

  private remember(publicKey: string): void {
    this.admitted.delete(publicKey);
    this.admitted.add(publicKey);
    if (this.admitted.size > MAX_ADMITTED) this.admitted.delete(this.admitted.values().next().value!);
  }
}
