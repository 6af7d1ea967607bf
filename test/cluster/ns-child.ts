/**
 * A process inside a network namespace (`ip netns exec <ns> command ...`;
 * `ip` execs the command, so the PID is the command's own and kill -9 reaches
 * it directly). Its stdout and stderr lines can be awaited; its stdin takes
 * command lines (the cluster fixtures read them) and, closed, tells a fixture
 * that its parent is gone.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

interface Waiter {
  match: RegExp;
  count: number;
  resolve: (m: RegExpMatchArray) => void;
}

class Lines {
  readonly all: string[] = [];
  private buffer = '';
  private waiters: Waiter[] = [];

  feed(data: string): void {
    this.buffer += data;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.all.push(line);
      this.waiters = this.waiters.filter(w => {
        const m = line.match(w.match);
        if (m && --w.count === 0) {
          w.resolve(m);
          return false;
        }
        return true;
      });
    }
  }

  /** The `nth` line (counting from the first line ever) matching `match`. */
  wait(match: RegExp, nth: number): Promise<RegExpMatchArray> | Waiter {
    let seen = 0;
    for (const l of this.all) {
      const m = l.match(match);
      if (m && ++seen === nth) return Promise.resolve(m);
    }
    const w: Waiter = { match, count: nth - seen, resolve: () => undefined };
    this.waiters.push(w);
    return w;
  }
}

/** The repository root: Jest and the scripts run from it. */
export const ROOT = resolve(process.cwd());

export class NsChild {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly out = new Lines();
  private readonly err = new Lines();
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly label: string,
    readonly ns: string,
    command: string,
    args: string[],
  ) {
    this.process = spawn('ip', ['netns', 'exec', ns, command, ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.process.stdout!.setEncoding('utf8').on('data', (d: string) => this.out.feed(d));
    this.process.stderr!.setEncoding('utf8').on('data', (d: string) => this.err.feed(d));
    // A child that exits while we write to it must not fail the test run.
    this.process.stdin!.on('error', () => undefined);
    this.exited = new Promise(done =>
      this.process.once('exit', (code, signal) => {
        this.exit = { code, signal };
        done(this.exit);
      }),
    );
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Every complete stdout line so far. */
  get stdout(): readonly string[] {
    return this.out.all;
  }

  get stderr(): string {
    return this.err.all.join('\n');
  }

  /** The first stdout line matching `match`; rejects after `ms` or when the child exits first. */
  line(match: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    return this.await(this.out, match, 1, ms);
  }

  /** The `nth` stdout line matching `match` (from the first line ever). */
  lineCount(match: RegExp, nth: number, ms = 20_000): Promise<RegExpMatchArray> {
    return this.await(this.out, match, nth, ms);
  }

  /** The `nth` stderr line matching `match` (from the first line ever). */
  errLineCount(match: RegExp, nth: number, ms = 20_000): Promise<RegExpMatchArray> {
    return this.await(this.err, match, nth, ms);
  }

  errLine(match: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    return this.await(this.err, match, 1, ms);
  }

  private await(lines: Lines, match: RegExp, nth: number, ms: number): Promise<RegExpMatchArray> {
    const found = lines.wait(match, nth);
    if (found instanceof Promise) return found;
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        found.resolve = () => undefined;
        reject(new Error(`${this.label}: ${why} before line ${match}; stderr: ${this.stderr.slice(-2000)}`));
      };
      const timer = setTimeout(() => fail(`no such line within ${ms} ms`), ms);
      found.resolve = m => {
        clearTimeout(timer);
        resolve(m);
      };
      void this.exited.then(r => fail(`exited (${r.code ?? r.signal})`));
    });
  }

  /** Writes one command line to the child's stdin. */
  send(line: string): void {
    if (this.running) this.process.stdin!.write(`${line}\n`);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.process.kill(sig);
  }

  /** SIGKILL (after SIGCONT, in case it is stopped), without waiting. */
  killNow(): void {
    this.signal('SIGCONT');
    this.signal('SIGKILL');
  }

  async kill(): Promise<void> {
    this.killNow();
    await this.exited;
  }
}
