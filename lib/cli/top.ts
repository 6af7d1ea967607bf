import { performance } from 'node:perf_hooks';
import { firstValueFrom } from 'rxjs';
import type { ClientZmq } from '../client/client-zmq.js';
import { EXIT_FAILED, EXIT_OK, expectPositionals, UsageError, type CliIo, type CliTerminal } from './args.js';
import { defineCommand } from './command.js';
import { errorInfo } from './output.js';
import { withClient } from './session.js';
import { asSnapshot, METRICS_PATTERN, rowsOf, type ZmqMetricsSnapshot } from './top-model.js';
import { renderTop, type TopFrame } from './top-view.js';

/** Enter the alternate screen, hide the cursor / the reverse. */
const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';
/** Keys that quit: q, Q, Ctrl-C (raw mode delivers it as a byte, not as SIGINT). */
const QUIT_KEYS = new Set(['q', 'Q', '\x03']);

export const topCommand = defineCommand({
  summary: 'a live view of a server: its clients, and per pattern the rate, p50 / p99 and errors, each second',
  usage: `Usage: nestjs-zeromq top <endpoint> [options]

Asks the server at <endpoint> for its metrics (the reserved request
"${METRICS_PATTERN}") every --interval ms and shows, full-screen: the server id,
uptime, clients, calls in flight and queued envelopes, and per pattern the
requests and events per second, the handler time p50 and p99 over the last
interval, errors per second, and the totals (requests, errors by code, cancels,
timeouts). q or Ctrl-C quits and restores the terminal.

When stdout is not a terminal it prints a frame per interval as plain text
(--json: one JSON line per interval); --once prints one frame (after two
samples, for the rates) and exits.

  nestjs-zeromq top tcp://127.0.0.1:4001
  nestjs-zeromq top tcp://127.0.0.1:4001 --once --json`,
  options: { interval: { type: 'string' }, once: { type: 'boolean' } },
  optionsHelp: `  --interval <ms>  time between refreshes (default 1000)
  --once           print one frame after two samples and exit`,
  async run(parsed, io) {
    const [endpoint] = expectPositionals(parsed, 1, 1);
    const intervalMs = Number(parsed.values.interval ?? 1000);
    if (!Number.isFinite(intervalMs) || intervalMs < 50) throw new UsageError('--interval takes at least 50 ms');
    const once = parsed.values.once === true;
    return withClient([endpoint!], parsed, io, client =>
      topLoop(client, { endpoint: endpoint!, intervalMs, once, json: parsed.json }, io),
    );
  },
});

interface TopOptions {
  endpoint: string;
  intervalMs: number;
  once: boolean;
  json: boolean;
}

/** Resolves after `ms`, or at once when `quit` settles first. */
function pause(ms: number, quit: Promise<void>): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(resolve, ms);
    void quit.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A promise that settles when the user quits: a quit key on the terminal, or the interrupt signal. */
function quitOn(io: CliIo, terminal: CliTerminal | undefined): { quit: Promise<void>; stop: () => void } {
  let done: () => void = () => undefined;
  const quit = new Promise<void>(resolve => (done = resolve));
  const onKey = (data: Buffer | string) => {
    if ([...data.toString()].some(ch => QUIT_KEYS.has(ch))) done();
  };
  const onAbort = () => done();
  io.signal.addEventListener('abort', onAbort, { once: true });
  if (io.signal.aborted) done();
  terminal?.input.on('data', onKey);
  return {
    quit,
    stop: () => {
      io.signal.removeEventListener('abort', onAbort);
      terminal?.input.off('data', onKey);
    },
  };
}

/** A snapshot, or `undefined` when the user quit first (a refresh never holds up quitting). */
async function sample(client: ClientZmq, quit: Promise<void>): Promise<ZmqMetricsSnapshot | undefined> {
  const answer = firstValueFrom(client.send<unknown>(METRICS_PATTERN, {}));
  const value = await Promise.race([answer, quit.then(() => QUIT)]);
  if (value === QUIT) {
    answer.catch(() => undefined); // its end (or CLOSED at close) is of no interest now
    return undefined;
  }
  return asSnapshot(value);
}

const QUIT = Symbol('quit');

/** Takes a snapshot each interval and shows it, until the user quits (or after one frame with --once). */
async function topLoop(client: ClientZmq, options: TopOptions, io: CliIo): Promise<number> {
  const terminal = options.once || options.json ? undefined : io.terminal;
  const { quit, stop } = quitOn(io, terminal);
  let quitting = false;
  void quit.then(() => (quitting = true));
  if (terminal !== undefined) {
    terminal.input.setRawMode?.(true);
    terminal.input.resume();
    terminal.output.write(ENTER);
  }
  try {
    return await refreshLoop(client, options, io, terminal, quit, () => quitting);
  } finally {
    stop();
    if (terminal !== undefined) {
      terminal.output.write(LEAVE);
      terminal.input.setRawMode?.(false);
      terminal.input.pause();
    }
  }
}

async function refreshLoop(
  client: ClientZmq,
  options: TopOptions,
  io: CliIo,
  terminal: CliTerminal | undefined,
  quit: Promise<void>,
  quitting: () => boolean,
): Promise<number> {
  let prev: { snapshot: ZmqMetricsSnapshot; at: number } | undefined;
  for (let n = 0; !quitting(); n++) {
    const frame: TopFrame = {
      endpoint: options.endpoint,
      snapshot: prev?.snapshot,
      rows: [],
      at: new Date(),
      intervalMs: options.intervalMs,
    };
    try {
      const snapshot = await sample(client, quit);
      if (snapshot === undefined) break;
      const at = performance.now();
      frame.snapshot = snapshot;
      frame.rows = rowsOf(prev?.snapshot, snapshot, prev === undefined ? 0 : at - prev.at);
      prev = { snapshot, at };
    } catch (err) {
      const { code, message } = errorInfo(err);
      if (terminal === undefined) {
        io.err(`error ${code}: ${message}\n`);
        return EXIT_FAILED;
      }
      frame.error = `${code}: ${message}`;
    }
    if (!(options.once && n === 0)) show(frame, options, io, terminal);
    if (options.once && n >= 1) return EXIT_OK;
    await pause(options.intervalMs, quit);
  }
  return EXIT_OK;
}

function show(frame: TopFrame, options: TopOptions, io: CliIo, terminal: CliTerminal | undefined): void {
  if (options.json) {
    const s = frame.snapshot!;
    const { peers, inFlight, queued } = s.metrics;
    io.out(
      JSON.stringify({
        at: frame.at.toISOString(),
        serverId: s.serverId,
        uptimeMs: s.uptimeMs,
        clients: s.peers,
        peers,
        inFlight,
        queued,
        patterns: frame.rows.map(r => ({ ...r, p50Ms: r.p50Ms ?? null, p99Ms: r.p99Ms ?? null })),
      }) + '\n',
    );
    return;
  }
  if (terminal === undefined) {
    io.out(renderTop(frame, Infinity, Infinity).join('\n') + '\n\n');
    return;
  }
  const lines = renderTop(frame, terminal.output.columns ?? 80, terminal.output.rows ?? 24);
  terminal.output.write(HOME_CLEAR + lines.join('\r\n'));
}
