/**
 * The flow-control figures of `npm run bench`, for this
 * transport alone (Nest TCP has no credit and no request streams, so these
 * are raw numbers, not ratios): a stream of 4 KiB items to a consumer that
 * takes 1,000 items/s (the server's RSS growth while it reads), a stream of
 * 1,000,000 small items (items/s, both sides' peak RSS), and a client-streamed
 * upload of 100,000 items (items/s). Each runs in fresh processes.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FlowPlan {
  slowSeconds: number;
  slowItems: number;
  streamItems: number;
  uploadItems: number;
}

export const FLOW_FULL: FlowPlan = {
  slowSeconds: 10,
  slowItems: 1_000_000,
  streamItems: 1_000_000,
  uploadItems: 100_000,
};
export const FLOW_QUICK: FlowPlan = { slowSeconds: 1, slowItems: 10_000, streamItems: 20_000, uploadItems: 5_000 };

const MiB = 1024 * 1024;

interface FlowResult {
  items: number;
  seconds: number;
  itemsPerSec: number;
  peakRss: number;
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** A child whose stdout lines are awaited (bounded), killed by `kill()` (only it). */
function start(build: string, root: string, script: string, args: string[]) {
  const proc: ChildProcess = spawn(process.execPath, [join(build, script), ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()));
  const line = async (prefix: string, ms: number): Promise<string> => {
    const until = Date.now() + ms;
    let gone = false;
    void exited.then(() => (gone = true));
    for (let i = 0; i < ms / 10 + 1; i++) {
      const found = out.split('\n').find(l => l.startsWith(`${prefix} `) && out.includes(`${l}\n`));
      if (found !== undefined) return found.slice(prefix.length + 1);
      if (gone || Date.now() > until) break;
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    throw new Error(`${script}: no ${prefix} line\n${err.slice(-2000)}`);
  };
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  return { proc, line, kill, exited };
}

/** One measurement: a fresh server, one client run; the server's RSS sampled while the client runs. */
async function measure(build: string, root: string, clientArgs: string[]) {
  const server = start(build, root, 'bench/flow-server.js', ['600000']);
  let client: ReturnType<typeof start> | undefined;
  try {
    const endpoint = await server.line('READY', 60_000);
    const pid = server.proc.pid!;
    const before = status(pid, 'VmRSS');
    let peak = before;
    client = start(build, root, 'bench/flow-client.js', [endpoint, ...clientArgs]);
    const sampler = setInterval(() => (peak = Math.max(peak, status(pid, 'VmRSS'))), 100);
    let result: FlowResult;
    try {
      result = JSON.parse(await client.line('RESULT', 300_000)) as FlowResult;
    } finally {
      clearInterval(sampler);
    }
    server.proc.stdin!.end('stop\n');
    const serverPeak = Number(await server.line('RSS', 10_000));
    return { result, serverBefore: before, serverGrowth: peak - before, serverPeak };
  } finally {
    client?.kill();
    server.kill();
  }
}

const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const int = (v: number) => Math.round(v).toLocaleString('en-US');

/** Runs the three figures and returns the report's lines (a table). */
export async function runFlow(build: string, root: string, plan: FlowPlan): Promise<string[]> {
  const slow = await measure(build, root, ['slow', String(plan.slowItems), '4096', String(plan.slowSeconds)]);
  const stream = await measure(build, root, ['stream', String(plan.streamItems)]);
  const upload = await measure(build, root, ['upload', String(plan.uploadItems)]);
  return [
    `Flow control (nest-zmq only; streamWindow 256, streamBufferLimit 16 MiB, defaults):`,
    '',
    '| figure | value |',
    '|---|---:|',
    `| slow consumer (1,000 items/s, 4 KiB items, ${plan.slowSeconds} s, async generator): items read | ${int(slow.result.items)} |`,
    `| slow consumer: server RSS growth while it read (MiB) | ${mib(slow.serverGrowth)} |`,
    `| slow consumer: server peak RSS (MiB) | ${mib(slow.serverPeak)} |`,
    `| ${int(plan.streamItems)}-item stream (async generator of numbers): items/s | ${int(stream.result.itemsPerSec)} |`,
    `| ${int(plan.streamItems)}-item stream: server peak RSS (MiB) | ${mib(stream.serverPeak)} |`,
    `| ${int(plan.streamItems)}-item stream: client peak RSS (MiB) | ${mib(stream.result.peakRss)} |`,
    `| client-streamed upload of ${int(plan.uploadItems)} items: items/s | ${int(upload.result.itemsPerSec)} |`,
    `| upload: server peak RSS (MiB) | ${mib(upload.serverPeak)} |`,
    `| upload: client peak RSS (MiB) | ${mib(upload.result.peakRss)} |`,
  ];
}
