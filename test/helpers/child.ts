import { ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';

/** The repository root, found from the running spec file (works in Jest's ESM mode, where __dirname is missing). */
export function repoRoot(): string {
  const testPath = expect.getState().testPath;
  if (testPath === undefined) throw new Error('repoRoot() must be called while a test runs');
  let dir = dirname(testPath);
  // test/e2e/x.spec.ts -> repo root two levels up from the spec's folder.
  while (!/[\\/]test$/.test(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dirname(dir);
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node -r ./test/helpers/ts-register.cjs <script> ...args` from the
 * repo root and resolves on its 'exit' event. `hangGuardMs` only guards
 * against a child that never exits: it is then killed with SIGKILL and the
 * result says so (signal 'SIGKILL'), which the caller's assertions reject.
 */
export function runTsChild(script: string, args: string[] = [], hangGuardMs = 30_000): Promise<ChildResult> {
  const root = repoRoot();
  const child = spawn(process.execPath, ['-r', './test/helpers/ts-register.cjs', script, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', d => (stderr += d));
  return new Promise((resolvePromise, reject) => {
    const guard = setTimeout(() => {
      stderr += `\n[runTsChild] no exit within ${hangGuardMs} ms: killed\n`;
      child.kill('SIGKILL');
    }, hangGuardMs);
    child.once('error', err => {
      clearTimeout(guard);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A long-running TypeScript child whose stdout lines a test can wait for. */
export class TsChild {
  readonly process: ChildProcess;
  private buffer = '';
  private readonly lines: string[] = [];
  private waiters: Array<{ match: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(script: string, args: string[] = []) {
    this.process = spawn(process.execPath, ['-r', './test/helpers/ts-register.cjs', script, ...args], {
      cwd: repoRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.process.stdout!.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    this.process.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise(resolve => this.process.once('exit', (code, signal) => resolve({ code, signal })));
  }

  private onData(data: string): void {
    this.buffer += data;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.lines.push(line);
      this.waiters = this.waiters.filter(w => {
        const m = line.match(w.match);
        if (m) w.resolve(m);
        return !m;
      });
    }
  }

  /** The first stdout line (past or future) matching `match`; rejects after `ms` or when the child exits. */
  line(match: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
    for (const l of this.lines) {
      const m = l.match(match);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line ${match} within ${ms} ms; stderr: ${this.stderr}`)), ms);
      this.waiters.push({
        match,
        resolve: m => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.exited.then(r => {
        clearTimeout(timer);
        reject(new Error(`child exited (${r.code ?? r.signal}) before printing ${match}; stderr: ${this.stderr}`));
      });
    });
  }

  /** Every complete stdout line so far. */
  get stdout(): readonly string[] {
    return this.lines;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(sig);
  }

  /** Kills the child (SIGKILL after SIGCONT, in case it is stopped) and waits for its exit. */
  async close(): Promise<void> {
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    await this.exited;
  }
}
