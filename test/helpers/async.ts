/**
 * Promise helpers for the e2e suites. Tests synchronize on these, never on
 * sleeps; `within()` only bounds a wait so a broken build fails with a clear
 * message instead of hanging until Jest's test timeout.
 */

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
  readonly settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A deferred nobody awaits must not turn into an unhandled rejection.
  promise.catch(() => undefined);
  return {
    promise,
    resolve: v => {
      settled = true;
      resolve(v);
    },
    reject: e => {
      settled = true;
      reject(e);
    },
    get settled() {
      return settled;
    },
  };
}

/** Resolves like `promise`, or rejects when it takes longer than `ms` (a hang guard, not a timing assertion). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Rejection reason of `promise`; fails when it resolves instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<any> {
  try {
    const value = await promise;
    throw new Error(`Expected a rejection, got ${JSON.stringify(value)}`);
  } catch (err) {
    return err;
  }
}

/**
 * Named signals handlers raise (`hit`) and tests await (`wait`), plus
 * counters, and gates handlers await (`gate`) and tests open (`open`).
 */
export class Probe {
  private slots = new Map<string, Deferred<unknown>>();
  private counts = new Map<string, number>();
  private values = new Map<string, unknown[]>();

  private slot(name: string): Deferred<unknown> {
    let d = this.slots.get(name);
    if (d === undefined) {
      d = deferred<unknown>();
      this.slots.set(name, d);
    }
    return d;
  }

  /** Records a hit of `name` and resolves its signal with `value`. */
  hit(name: string, value?: unknown): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const list = this.values.get(name) ?? [];
    list.push(value);
    this.values.set(name, list);
    this.slot(name).resolve(value);
  }

  /** The value of the first `hit(name)`, waiting for it (at most `ms`). */
  wait<T = unknown>(name: string, ms = 5_000): Promise<T> {
    return within(this.slot(name).promise as Promise<T>, ms, `signal "${name}"`);
  }

  count(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  all(name: string): unknown[] {
    return [...(this.values.get(name) ?? [])];
  }

  /** A promise a handler awaits until the test calls `open(name)`. */
  gate(name: string): Promise<void> {
    return this.slot(`gate:${name}`).promise as Promise<void>;
  }

  open(name: string): void {
    this.slot(`gate:${name}`).resolve(undefined);
  }

  reset(): void {
    this.slots = new Map();
    this.counts = new Map();
    this.values = new Map();
  }
}

/** Lets promise callbacks run: a bounded number of microtask turns (no timers, no I/O). */
export async function flush(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}
