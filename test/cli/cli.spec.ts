/**
 * The CLI as a person or a script runs it: `lib/cli/bin.ts` in a child
 * process (through ts-register, on the sources), against a real ServerZmq in
 * another child (test/fixtures/cli-server.ts).
 */
import { runTsChild, TsChild } from '../helpers/child';

const BIN = 'lib/cli/bin.ts';
let server: TsChild;
let endpoint: string;

/**
 * Runs the CLI; 90 s is only a hang guard: each CLI process compiles the
 * sources it loads (ts-register), which takes seconds on a busy machine.
 */
const cli = (...args: string[]) => runTsChild(BIN, args, 90_000);
/** Each test runs the CLI one to three times. */
const LIMIT = 120_000;

beforeAll(async () => {
  server = new TsChild('test/fixtures/cli-server.ts');
  endpoint = (await server.line(/^READY (\S+)/, 90_000))[1]!;
}, 120_000);

afterAll(async () => {
  await server.close();
});

describe('nestjs-zeromq ping / peers', () => {
  it(
    'ping prints the server id, its metadata, patterns, events and the round trip',
    async () => {
      const r = await cli('ping', endpoint);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^server +cli-server \\(${endpoint.replace(/\./g, '\\.')}\\)$`, 'm'));
      expect(r.stdout).toMatch(/^handshake +[\d.]+ ms$/m);
      expect(r.stdout).toMatch(/^rtt +[\d.]+ ms$/m);
      expect(r.stdout).toMatch(/^metadata +\{"service":"cli-test"\}$/m);
      expect(r.stdout).toMatch(/^patterns +math\.sum, \{"cmd":"greet"\}, math\.divide, ticks, \$zmq\/metrics$/m);
      expect(r.stdout).toMatch(/^events +note$/m);
    },
    LIMIT,
  );

  it(
    '--json anywhere on the line: one JSON document',
    async () => {
      const before = await cli('--json', 'ping', endpoint);
      const after = await cli('ping', endpoint, '--json');
      expect([before.code, after.code]).toEqual([0, 0]);
      expect(Object.keys(JSON.parse(before.stdout))).toEqual(Object.keys(JSON.parse(after.stdout)));
      const report = JSON.parse(after.stdout);
      expect(report).toMatchObject({
        peerId: 'cli-server',
        endpoint,
        metadata: { service: 'cli-test' },
        patterns: ['math.sum', '{"cmd":"greet"}', 'math.divide', 'ticks', '$zmq/metrics'],
        events: ['note'],
      });
      expect(report.rttMs).toBeGreaterThan(0);
      expect(report.handshakeMs).toBeGreaterThan(0);
    },
    LIMIT,
  );

  it(
    'peers lists what each WELCOME says, and names an endpoint with no server (exit 1)',
    async () => {
      const dead = 'tcp://127.0.0.1:1';
      const r = await cli('peers', endpoint, dead, '--json', '--timeout', '1500');
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual({
        peers: [
          {
            peerId: 'cli-server',
            endpoint,
            metadata: { service: 'cli-test' },
            patterns: ['math.sum', '{"cmd":"greet"}', 'math.divide', 'ticks', '$zmq/metrics'],
            events: ['note'],
          },
        ],
        missing: [dead],
      });
      expect(r.stderr).toBe(`no server answered at ${dead}\n`);
    },
    LIMIT,
  );

  it(
    'no server at all: CONNECT_REFUSED at once, long before --timeout, exit 1',
    async () => {
      // A --timeout far beyond the test's own limit: only an answer at the refusal passes.
      const r = await cli('ping', 'tcp://127.0.0.1:1', '--timeout', '600000');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'error CONNECT_REFUSED: Nothing accepts connections at tcp://127.0.0.1:1 (ECONNREFUSED): is the server running, and bound to that address and port?\n',
      );
    },
    LIMIT,
  );
});

describe('nestjs-zeromq call / emit', () => {
  it(
    'prints the reply; an object pattern is JSON',
    async () => {
      const sum = await cli('call', endpoint, 'math.sum', '[1,2,3]');
      expect(sum).toMatchObject({ code: 0, stdout: '6\n', stderr: '' });
      const greet = await cli('call', endpoint, '{"cmd":"greet"}', '{"name":"ann"}', '--json');
      expect(greet).toMatchObject({ code: 0, stdout: '"hello ann"\n' });
    },
    LIMIT,
  );

  it(
    'a typed error is printed with its code and exits 1 (stderr; stdout JSON with --json)',
    async () => {
      const human = await cli('call', endpoint, 'math.divide', '[1,0]');
      expect(human).toMatchObject({
        code: 1,
        stdout: '',
        stderr: 'error E_DIVISION_BY_ZERO: cannot divide by zero (status 422)\n',
      });
      const json = await cli('--timeout', '4000', 'call', '--json', endpoint, 'math.divide', '[1,0]');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toEqual({
        error: { code: 'E_DIVISION_BY_ZERO', message: 'cannot divide by zero', status: 422 },
      });
      const none = await cli('call', endpoint, 'nope');
      expect(none).toMatchObject({ code: 1, stderr: 'error NO_PEER: No connected server serves "nope"\n' });
    },
    LIMIT,
  );

  it(
    'a payload that is not JSON is a usage error (exit 2) with the usage',
    async () => {
      const r = await cli('call', endpoint, 'math.sum', '[1,');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^the payload is not JSON/);
      expect(r.stderr).toContain('Usage: nestjs-zeromq call <endpoint> <pattern> [<json>]');
    },
    LIMIT,
  );

  it(
    'emit sends the event; the server handles it',
    async () => {
      const r = await cli('emit', endpoint, 'note', '{"a":1}');
      expect(r).toMatchObject({ code: 0, stdout: 'sent to cli-server\n' });
      await expect(server.line(/^EVENT \{"a":1\}$/, 30_000)).resolves.toBeTruthy();
    },
    LIMIT,
  );
});

describe('nestjs-zeromq stream', () => {
  it(
    'prints one value per line until the end',
    async () => {
      const r = await cli('stream', endpoint, 'ticks', '3');
      expect(r).toMatchObject({ code: 0, stdout: '{"tick":0}\n{"tick":1}\n{"tick":2}\n' });
    },
    LIMIT,
  );

  it(
    "Ctrl-C (SIGINT) cancels the request on the server: the handler's teardown runs; exit 130",
    async () => {
      const child = new TsChild(BIN, ['stream', endpoint, 'ticks', '0']);
      try {
        await child.line(/^\{"tick":2\}$/, 90_000);
        child.signal('SIGINT');
        await expect(child.exited).resolves.toEqual({ code: 130, signal: null });
        await expect(server.line(/^TEARDOWN \d+$/, 30_000)).resolves.toBeTruthy();
      } finally {
        await child.close();
      }
    },
    LIMIT,
  );
});

describe('nestjs-zeromq --help', () => {
  it(
    'lists the commands; each command has its own help',
    async () => {
      const all = await cli('--help');
      expect(all.code).toBe(0);
      for (const name of ['ping', 'peers', 'call', 'stream', 'emit', 'top'])
        expect(all.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
      const stream = await cli('stream', '--help');
      expect(stream.code).toBe(0);
      expect(stream.stdout).toContain('Usage: nestjs-zeromq stream <endpoint> <pattern> [<json>] [options]');
      expect(stream.stdout).toContain('--timeout <ms>');
      const unknown = await cli('frobnicate');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^unknown command "frobnicate"/);
    },
    LIMIT,
  );
});
