/**
 * Helpers of the sample e2e test: child processes whose output lines can be
 * awaited, a tiny HTTP client (plain node:http, one connection per request,
 * so nothing stays open after the test), a Server-Sent Events reader, the
 * walkthrough's commands (sample/README.md), and a parser for the few curl forms it uses.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { IncomingMessage, request } from 'node:http';
import { createInterface } from 'node:readline';
import { deferred, Deferred, within } from '../helpers/async';

/** A child process whose stdout and stderr lines are kept and can be awaited. */
export class App {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters: Array<{ re: RegExp; from: number; done: Deferred<string> }> = [];
  private exitedNow = false;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', line => this.onLine(line));
    }
    this.exited = new Promise(resolve =>
      child.once('exit', (code, signal) => {
        this.exitedNow = true;
        for (const w of this.waiters.splice(0)) {
          w.done.reject(new Error(`${this.name} exited (${signal ?? code}) before printing ${w.re}\n${this.tail()}`));
        }
        resolve({ code, signal });
      }),
    );
  }

  /** `node <args>` from `cwd` with `env` added to this process's environment (`undefined`: a variable left out). */
  static start(name: string, args: string[], cwd: string, env: Record<string, string | undefined>): App {
    const merged = { ...process.env, NODE_OPTIONS: '', NO_COLOR: '1', ...env };
    const child = spawn(process.execPath, args, {
      cwd,
      env: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new App(name, child);
  }

  get running(): boolean {
    return !this.exitedNow;
  }

  /** The first line from index `from` on that matches `re` (waits for it, at most `ms`). */
  waitFor(re: RegExp, what: string, ms = 15_000, from = 0): Promise<string> {
    const found = this.lines.slice(from).find(l => re.test(l));
    if (found !== undefined) return Promise.resolve(found);
    if (this.exitedNow)
      return Promise.reject(new Error(`${this.name} has exited; no line matches ${re}\n${this.tail()}`));
    const done = deferred<string>();
    this.waiters.push({ re, from, done });
    return within(done.promise, ms, `${what} (a line of ${this.name} matching ${re})`).catch(err => {
      throw new Error(`${(err as Error).message}\n${this.tail()}`);
    });
  }

  tail(n = 40): string {
    return `--- last lines of ${this.name}:\n${this.lines.slice(-n).join('\n')}`;
  }

  private onLine(line: string): void {
    this.lines.push(line);
    const index = this.lines.length - 1;
    for (const w of [...this.waiters]) {
      if (index >= w.from && w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.done.resolve(line);
      }
    }
  }
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** curl -N: read the answer as a stream of Server-Sent Events. */
  stream: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

function open(req: HttpRequest): Promise<IncomingMessage> & { abort(): void } {
  const r = request(req.url, { method: req.method, headers: req.headers, agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    r.once('response', resolve);
    r.once('error', reject);
  });
  r.end(req.body);
  return Object.assign(response, { abort: () => r.destroy() });
}

/** Sends `req` and reads the whole answer. */
export async function fetchText(req: HttpRequest, ms = 10_000): Promise<HttpResponse> {
  const res = await within(open(req), ms, `${req.method} ${req.url}`);
  res.setEncoding('utf8');
  let body = '';
  res.on('data', chunk => (body += chunk));
  await within(new Promise(resolve => res.once('end', resolve)), ms, `the body of ${req.method} ${req.url}`);
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

export interface SseEvent {
  event?: string;
  data?: string;
}

/** Server-Sent Events from text: `event:` and `data:` fields of each block (ids and comments are left out). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    const event: SseEvent = {};
    for (const line of block.split('\n')) {
      const m = /^(event|data): ?(.*)$/.exec(line);
      if (m) event[m[1] as keyof SseEvent] = m[2];
    }
    if (event.event !== undefined || event.data !== undefined) events.push(event);
  }
  return events;
}

/** An open Server-Sent Events response: await a number of events, the end, or close it early. */
export class SseReader {
  status = 0;
  private text = '';
  private readonly changed: Array<() => void> = [];
  private ended = false;
  private request!: ReturnType<typeof open>;

  static async open(req: HttpRequest, ms = 10_000): Promise<SseReader> {
    const reader = new SseReader();
    reader.request = open(req);
    const res = await within(reader.request, ms, `${req.method} ${req.url}`);
    reader.status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    res.on('data', chunk => {
      reader.text += chunk;
      reader.notify();
    });
    res.once('close', () => {
      reader.ended = true;
      reader.notify();
    });
    return reader;
  }

  get events(): SseEvent[] {
    return parseSse(this.text);
  }

  /** Resolves once `n` events arrived (fails if the response ends first). */
  async waitEvents(n: number, ms = 10_000): Promise<SseEvent[]> {
    await within(
      this.until(() => this.events.length >= n, `${n} event(s)`),
      ms,
      `${n} SSE event(s)`,
    );
    return this.events;
  }

  /** Resolves with every event once the server ended the response. */
  async waitEnd(ms = 10_000): Promise<SseEvent[]> {
    await within(
      this.until(() => this.ended),
      ms,
      'the end of the SSE response',
    );
    return this.events;
  }

  /** Goes away like a closed browser tab or an interrupted curl. */
  close(): void {
    this.request.abort();
  }

  private until(done: () => boolean, what?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) return resolve();
        if (this.ended && what !== undefined)
          return reject(new Error(`the response ended before ${what}: ${this.text}`));
        this.changed.push(check);
      };
      check();
    });
  }

  private notify(): void {
    for (const check of this.changed.splice(0)) check();
  }
}

/** Shell words of a one-line command: 'single quoted' strings and bare words. */
function shellWords(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|(\S+)/g)].map(m => m[1] ?? m[2]!);
}

/**
 * The HTTP request a walkthrough curl command makes, sent to `base` instead of
 * `localhost:3000`. Understands the flags the walkthrough uses: -s, -N, -X, -H, -d, --max-time.
 */
export function curlToRequest(command: string, base: string): HttpRequest {
  const words = shellWords(command);
  if (words.shift() !== 'curl') throw new Error(`not a curl command: ${command}`);
  const req: HttpRequest = { method: 'GET', url: '', headers: {}, stream: false };
  while (words.length > 0) {
    const word = words.shift()!;
    if (word === '-s') continue;
    if (word === '-N') req.stream = true;
    else if (word === '-X') req.method = words.shift()!;
    else if (word === '-d') {
      req.body = words.shift()!;
      if (req.method === 'GET') req.method = 'POST';
    } else if (word === '-H') {
      const [name, ...value] = words.shift()!.split(':');
      req.headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (word === '--max-time') words.shift();
    else if (/^localhost:3000\//.test(word)) req.url = word.replace(/^localhost:3000/, base);
    else throw new Error(`curl word not understood: ${word} (in ${command})`);
  }
  if (req.url === '') throw new Error(`no localhost:3000 URL in ${command}`);
  return req;
}

export interface WalkthroughStep {
  curl: string;
  /** The fenced block right after the command's block: the output to expect. */
  output?: string;
}

/** The fenced blocks of a Markdown text, in order: language, body and where each starts and ends. */
export function fencedBlocks(text: string): Array<{ lang: string; body: string; start: number; end: number }> {
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(m => ({
    lang: m[1]!,
    body: m[2]!,
    start: m.index!,
    end: m.index! + m[0].length,
  }));
}

/**
 * The curl commands of sample/README.md, in order, each with the output block
 * that follows its code block (when there is one).
 */
export function walkthroughSteps(text: string): WalkthroughStep[] {
  const blocks = fencedBlocks(text);
  const steps: WalkthroughStep[] = [];
  blocks.forEach((block, i) => {
    if (block.lang !== 'bash') return;
    const curls = block.body.split('\n').filter(l => l.startsWith('curl '));
    const next = blocks[i + 1];
    const output =
      next !== undefined && next.lang !== 'bash' && text.slice(block.end, next.start).trim() === ''
        ? next.body
        : undefined;
    curls.forEach((curl, k) =>
      steps.push({ curl, ...(k === curls.length - 1 && output !== undefined ? { output } : {}) }),
    );
  });
  return steps;
}

/** The body of the first bash block after `marker` in `text` (a command the walkthrough shows). */
export function bashAfter(text: string, marker: string): string {
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`sample/README.md has no "${marker}"`);
  const block = fencedBlocks(text).find(b => b.start > at && b.lang === 'bash');
  if (block === undefined) throw new Error(`sample/README.md has no bash block after "${marker}"`);
  return block.body.trim();
}

/** The words of a one-line command as a shell splits them (single-quoted strings and bare words). */
export function commandWords(command: string): string[] {
  if (command.includes('\n')) throw new Error(`one command expected: ${command}`);
  return shellWords(command);
}
