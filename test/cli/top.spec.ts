/**
 * `nestjs-zeromq top` the way a person uses it: in a real terminal (tmux,
 * 120 × 40, on a tmux server of this test's own), against a server child
 * (test/fixtures/top-server.ts) while this process sends it requests and
 * events. The screen must show the server, its clients and each pattern with
 * its rate, percentiles and errors; `q` and Ctrl-C must quit and give the
 * terminal back (main screen, cursor visible).
 * `top` reads the server's own metrics (`$zmq/metrics`).
 *
 * CI runs the short form (the screen and `q`); `SOAK=1` adds Ctrl-C.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { firstValueFrom, toArray } from 'rxjs';
import { ClientZmq } from 'nestjs-zeromq';
import { repoRoot, TsChild } from '../helpers/child';

const run = promisify(execFile);
const SOCKET = `nzmq-top-${process.pid}`;
/** Runs a tmux command on this test's own tmux server; 60 s only guards against a hang. */
const tmux = async (...args: string[]) => (await run('tmux', ['-L', SOCKET, ...args], { timeout: 60_000 })).stdout;

let server: TsChild;
let endpoint: string;
let client: ClientZmq;

beforeAll(async () => {
  server = new TsChild('test/fixtures/top-server.ts');
  endpoint = (await server.line(/^READY (\S+)/, 90_000))[1]!;
  client = new ClientZmq({ connect: endpoint, id: 'load-client' });
  await client.connect();
}, 120_000);

afterAll(async () => {
  await client.close();
  await server.close();
  // This test's own tmux server only (its own socket).
  await tmux('kill-server').catch(() => undefined);
});

/** Starts `top` in a new tmux session; when it exits, the pane prints its exit code and signals `<name>-done`. */
async function startTop(name: string): Promise<void> {
  const cmd = `node -r ./test/helpers/ts-register.cjs lib/cli/bin.ts top ${endpoint}; echo "EXIT:$?"; tmux wait-for -S ${name}-done; read x`;
  await tmux('new-session', '-d', '-x', '120', '-y', '40', '-s', name, '-c', repoRoot(), `sh -c '${cmd}'`);
}

const screen = (name: string) => tmux('capture-pane', '-p', '-t', name);
const flags = async (name: string) =>
  (await tmux('display', '-p', '-t', name, '#{alternate_on} #{cursor_flag}')).trim();

/** One batch of load: requests that succeed, one that fails, one event. */
async function load(batch: number): Promise<void> {
  await firstValueFrom(client.send('work', batch).pipe(toArray()));
  for (let i = 0; i < 20; i++) await firstValueFrom(client.send('work', i));
  await firstValueFrom(client.send('fail', batch)).catch(() => undefined);
  client.emit('note', { batch });
}

/**
 * Loads the server batch after batch until the screen passes `ok` (at most
 * 2,000 batches or 90 s: `top` first compiles the sources it loads).
 */
async function loadUntil(name: string, ok: (text: string) => boolean): Promise<string> {
  const until = Date.now() + 90_000;
  let text = '';
  for (let batch = 0; batch < 2_000 && Date.now() < until; batch++) {
    await load(batch);
    text = await screen(name);
    if (ok(text)) return text;
  }
  throw new Error(`the screen never showed what was expected:\n${text}`);
}

const row = (text: string, pattern: string) => text.split('\n').find(l => l.startsWith(`${pattern} `));

describe('nestjs-zeromq top in a terminal', () => {
  it('shows the server, its clients, each pattern with its rate, p50 / p99 and errors; q quits and restores the terminal', async () => {
    await startTop('q');
    const text = await loadUntil('q', t => {
      const work = row(t, 'work');
      return work !== undefined && /^work\s+[1-9]/.test(work) && / µs| ms/.test(work) && /E_FAIL:\d+/.test(t);
    });
    await expect(flags('q')).resolves.toBe('1 0'); // full screen, cursor hidden
    expect(text).toMatch(/^nestjs-zeromq top {2}tcp:\/\/127\.0\.0\.1:\d+ {2}server top-server {2}up /m);
    expect(text).toMatch(/^peers \d+ {2}in flight \d+ {2}queued \d+/m);
    expect(text).toMatch(/^clients: .*load-client/m);
    expect(text).toMatch(/^PATTERN +REQ\/S +EV\/S +P50 +P99 +ERR\/S +TOTAL +ERRORS +CANCELS +TIMEOUTS +ERROR CODES$/m);
    const work = row(text, 'work')!;
    expect(work).toMatch(/^work +\d+(\.\d)? +0 +\d+(\.\d)? (µs|ms) +\d+(\.\d)? (µs|ms) +0 +\d+ +0 +0 +0$/);
    expect(Number(work.split(/ +/)[1])).toBeGreaterThan(0);
    expect(row(text, 'fail')).toMatch(/^fail .* E_FAIL:\d+$/);
    expect(row(text, 'note')).toMatch(/^note +0 +\d/);
    // The reserved pattern top itself asks is left out.
    expect(text).not.toContain('$zmq/metrics');

    await tmux('send-keys', '-t', 'q', 'q');
    await tmux('wait-for', 'q-done');
    const after = await screen('q');
    expect(after).toMatch(/^EXIT:0$/m);
    expect(after).not.toContain('PATTERN');
    await expect(flags('q')).resolves.toBe('0 1'); // main screen, cursor visible
    await tmux('kill-session', '-t', 'q');
  }, 120_000);

  it('Ctrl-C quits too (exit 0) and restores the terminal', async () => {
    await startTop('ctrlc');
    await loadUntil('ctrlc', t => /^work /m.test(t));
    await tmux('send-keys', '-t', 'ctrlc', 'C-c');
    await tmux('wait-for', 'ctrlc-done');
    const after = await screen('ctrlc');
    expect(after).toMatch(/^EXIT:0$/m);
    expect(after).not.toContain('PATTERN');
    await expect(flags('ctrlc')).resolves.toBe('0 1');
    await tmux('kill-session', '-t', 'ctrlc');
  }, 120_000);
});
