import { randomBytes } from 'node:crypto';
import {
  HELLO_NONCE_TTL_MS,
  MAX_HELLO_NONCES,
  MAX_HELLO_NONCES_PER_CONNECTION,
  MAX_HELLO_NONCES_PER_KEY,
} from '../protocol/tuning.js';

/** Random bytes in a key-proof nonce (docs/PROTOCOL.md §12.2 asks for at least 16). */
export const HELLO_NONCE_BYTES = 24;

/** How many nonces a server keeps, and for how long. */
export interface NonceBounds {
  readonly total: number;
  readonly perKey: number;
  readonly perConnection: number;
  readonly ttlMs: number;
}

export const NONCE_BOUNDS: NonceBounds = {
  total: MAX_HELLO_NONCES,
  perKey: MAX_HELLO_NONCES_PER_KEY,
  perConnection: MAX_HELLO_NONCES_PER_CONNECTION,
  ttlMs: HELLO_NONCE_TTL_MS,
};

interface Issued {
  readonly connection: string;
  readonly publicKey: string;
  readonly expires: number;
}

const newNonce = (): string => randomBytes(HELLO_NONCE_BYTES).toString('base64');

/**
 * The key-proof nonces a CURVE server issued and that no HELLO used yet
 * (docs/PROTOCOL.md §12.2): each belongs to one connection and one key, is
 * used once, and expires. Bounded per connection, per key and in all: past a
 * bound the oldest nonce of that connection, key or server is forgotten (its
 * HELLO is refused and the client says HELLO again), so the book is never a
 * memory lever and one key's churn never evicts another key's nonce.
 */
export class HelloNonces {
  /** By nonce, oldest first: every nonce lives as long, so the expired ones are at the front. */
  private readonly issued = new Map<string, Issued>();
  private readonly ofConnection = new Map<string, string[]>();
  private readonly ofKey = new Map<string, string[]>();

  constructor(
    private readonly bounds: NonceBounds = NONCE_BOUNDS,
    private readonly random: () => string = newNonce,
  ) {}

  /** Nonces kept now. */
  get size(): number {
    return this.issued.size;
  }

  /** A new nonce for the next HELLO of `publicKey` on `connection`. */
  issue(connection: string, publicKey: string, now: number): string {
    this.expire(now);
    this.evictOldest(this.ofConnection.get(connection), this.bounds.perConnection);
    this.evictOldest(this.ofKey.get(publicKey), this.bounds.perKey);
    if (this.issued.size >= this.bounds.total) this.forget(this.issued.keys().next().value!);
    let nonce = this.random();
    while (this.issued.has(nonce)) nonce = this.random();
    this.issued.set(nonce, { connection, publicKey, expires: now + this.bounds.ttlMs });
    push(this.ofConnection, connection, nonce);
    push(this.ofKey, publicKey, nonce);
    return nonce;
  }

  /**
   * Uses `nonce` for a HELLO of `publicKey` on `connection`: `undefined`
   * when this server issued it to that connection for that key, unused and
   * unexpired, else why not. A nonce named on its own connection is used up
   * whatever the answer; one named on another connection is left alone (a
   * peer that learnt it cannot burn it).
   */
  use(nonce: string, connection: string, publicKey: string, now: number): string | undefined {
    this.expire(now);
    const entry = this.issued.get(nonce);
    if (entry === undefined || entry.connection !== connection) {
      return 'its nonce was not issued to this connection, or is used or expired: say HELLO again';
    }
    this.forget(nonce);
    if (entry.publicKey !== publicKey) return 'its nonce was issued for another key';
    return undefined;
  }

  private expire(now: number): void {
    for (const [nonce, entry] of this.issued) {
      if (entry.expires > now) return;
      this.forget(nonce);
    }
  }

  private evictOldest(nonces: string[] | undefined, bound: number): void {
    while (nonces !== undefined && nonces.length >= bound && nonces.length > 0) this.forget(nonces[0]!);
  }

  private forget(nonce: string): void {
    const entry = this.issued.get(nonce);
    if (entry === undefined) return;
    this.issued.delete(nonce);
    pull(this.ofConnection, entry.connection, nonce);
    pull(this.ofKey, entry.publicKey, nonce);
  }
}

function push(index: Map<string, string[]>, key: string, nonce: string): void {
  const list = index.get(key);
  if (list === undefined) index.set(key, [nonce]);
  else list.push(nonce);
}

function pull(index: Map<string, string[]>, key: string, nonce: string): void {
  const list = index.get(key);
  if (list === undefined) return;
  const at = list.indexOf(nonce);
  if (at >= 0) list.splice(at, 1);
  if (list.length === 0) index.delete(key);
}
