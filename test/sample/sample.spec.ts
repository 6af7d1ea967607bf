/**
 * The sample monorepo end to end, the way sample/README.md walks a newcomer
 * through it: `node sample/start.mjs` (what `npm run sample` runs), with no
 * CURVE keys in its environment, makes the apps' keys and starts math,
 * notifications and the HTTP gateway as child processes on free ports; then
 * every curl command of the walkthrough runs over HTTP, in order, and its
 * answer is compared with the output shown. Between them, the math service is
 * killed with SIGKILL (the gateway must report it and fail its calls with
 * PEER_LOST / NO_PEER) and started again with the walkthrough's own command,
 * in an environment without keys (the gateway must see it join). Last,
 * SIGTERM to the launcher must stop every app.
 *
 * Synchronization is on output lines (READY, log lines) and HTTP answers; the
 * time limits only turn a hang into a clear failure.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { within } from '../helpers/async';
import { repoRoot, runTsChild } from '../helpers/child';
import {
  alive,
  App,
  bashAfter,
  commandWords,
  curlToRequest,
  fetchText,
  parseSse,
  SseEvent,
  SseReader,
  walkthroughSteps,
} from './helpers';

const STARTUP_MS = 60_000;
const APPS = ['math', 'notifications', 'gateway'] as const;
/** No CURVE keys: `npm run sample` makes them, as it does for a newcomer. Heartbeats: a killed service is noticed within 250 ms × (3 + 1). */
const SAMPLE_ENV = {
  HTTP_PORT: '0',
  MATH_ENDPOINT: 'tcp://127.0.0.1:*',
  NOTIFICATIONS_ENDPOINT: 'tcp://127.0.0.1:*',
  ZMQ_HEARTBEAT_INTERVAL: '250',
  ZMQ_HEARTBEAT_LIVENESS: '3',
  COUNT_TICK_MS: '50',
};

interface Ctx {
  base: string;
  root: string;
  /** sample/README.md */
  walkthrough: string;
  /** The gateway's environment as the walkthrough's CLI step loads it into a shell (every public key, its pair). */
  shellEnv: Record<string, string>;
  launcher: App;
  mathEndpoint: string;
  notificationsEndpoint: string;
  /** The math service started again by the test after the kill. */
  restarted?: App;
  /** An SSE response kept open across steps. */
  open?: SseReader;
  /** Set once the kill -9 step passed. */
  killReported?: boolean;
}

type Run = (ctx: Ctx, output: string | undefined, curl: string) => Promise<void>;
/** `afterKill`: runs only when the kill -9 step passed (it would only wait for timeouts otherwise). */
type Step = ({ curl: string; run: Run } | { action: string; run: (ctx: Ctx) => Promise<void> }) & {
  afterKill?: true;
  /** Its time limit (default 30 s). */
  timeoutMs?: number;
};

const json = (text: string | undefined): unknown => {
  if (text === undefined) throw new Error('the walkthrough shows no output for this step');
  return JSON.parse(text);
};

/** The answer equals the walkthrough's output, as JSON, with this status. */
const exactly =
  (status: number): Run =>
  async (ctx, output, curl) => {
    const res = await fetchText(curlToRequest(curl, ctx.base));
    expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status, body: json(output) });
  };

/** The answer has this status and the walkthrough's `statusCode` and `code` (the message may be worded otherwise). */
const errorLike =
  (status: number): Run =>
  async (ctx, output, curl) => {
    const res = await fetchText(curlToRequest(curl, ctx.base));
    const shown = json(output) as { statusCode: number; code: string };
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body)).toEqual({
      statusCode: shown.statusCode,
      code: shown.code,
      message: expect.any(String),
    });
  };

const dataOf = (events: SseEvent[]) =>
  events.map(e => ({ event: e.event, data: e.data === undefined ? undefined : JSON.parse(e.data) }));

/** A health answer with the ports and round trips of this run replaced, so it compares with the walkthrough's. */
const normalizeHealth = (text: string): unknown =>
  JSON.parse(
    text.replace(/tcp:\/\/127\.0\.0\.1:\d+/g, 'tcp://127.0.0.1:PORT').replace(/"rttMs":\s*[\d.]+/g, '"rttMs":"RTT"'),
  );

/** GET /health answers `status` and the walkthrough's body, but for ports and round trips. */
const health =
  (status: number): Run =>
  async (ctx, output, curl) => {
    const res = await fetchText(curlToRequest(curl, ctx.base));
    expect({ status: res.status, body: normalizeHealth(res.body) }).toEqual({
      status,
      body: normalizeHealth(output ?? 'null'),
    });
  };

const STEPS: Step[] = [
  { curl: "curl -s 'localhost:3000/sum?a=2&b=3'", run: exactly(200) },
  { curl: "curl -s 'localhost:3000/sum?a=2&b=x'", run: exactly(400) },
  {
    curl: 'curl -N localhost:3000/count/5',
    run: async (ctx, output, curl) => {
      const sse = await SseReader.open(curlToRequest(curl, ctx.base));
      expect(sse.status).toBe(200);
      expect(dataOf(await sse.waitEnd())).toEqual(dataOf(parseSse(output ?? '')));
    },
  },
  {
    // curl --max-time 1 hangs up mid-stream; the math service must see its stream cancelled.
    curl: 'curl -N --max-time 1 localhost:3000/count/1000',
    run: async (ctx, output, curl) => {
      const math = ctx.launcher;
      const from = math.lines.length;
      const sse = await SseReader.open(curlToRequest(curl, ctx.base));
      const shown = dataOf(parseSse(output ?? '')).slice(0, 2);
      expect(shown).toHaveLength(2);
      expect(dataOf(await sse.waitEvents(2)).slice(0, 2)).toEqual(shown);
      sse.close();
      await math.waitFor(
        /^\[math\].*count\(1000\) cancelled by the caller after \d+ value\(s\)/,
        'the cancellation',
        10_000,
        from,
      );
    },
  },
  { curl: 'curl -s localhost:3000/streams', run: exactly(200) },
  {
    curl: `curl -s -X POST localhost:3000/notify -H 'content-type: application/json' -d '{"to":"ann","text":"hello"}'`,
    run: async (ctx, output, curl) => {
      await exactly(202)(ctx, output, curl);
      await ctx.launcher.waitFor(/^\[notifications\].*to ann: hello$/, 'the delivered notification');
    },
  },
  { curl: 'curl -s localhost:3000/notifications', run: exactly(200) },
  {
    curl: `curl -s -X POST localhost:3000/notify -H 'content-type: application/json' -d '{"to":"ann","txt":"hello"}'`,
    run: exactly(400),
  },
  { curl: "curl -s 'localhost:3000/divide?a=1&b=0'", run: exactly(422) },
  {
    curl: 'curl -s localhost:3000/peers',
    run: async (ctx, output, curl) => {
      const res = await fetchText(curlToRequest(curl, ctx.base));
      expect(res.status).toBe(200);
      // Ports differ from the walkthrough's, and the two joins may come in either order.
      const normalize = (body: any) => ({
        connected: JSON.parse(
          JSON.stringify(body.connected).replace(/tcp:\/\/127\.0\.0\.1:\d+/g, 'tcp://127.0.0.1:PORT'),
        ),
        changes: (body.changes as Array<{ client: string }>)
          .map(c => JSON.parse(JSON.stringify(c).replace(/tcp:\/\/127\.0\.0\.1:\d+/g, 'tcp://127.0.0.1:PORT')))
          .sort((x, y) => x.client.localeCompare(y.client)),
      });
      expect(normalize(JSON.parse(res.body))).toEqual(normalize(json(output)));
    },
  },
  {
    // Every series line the walkthrough shows is in the scrape, with that value.
    curl: 'curl -s localhost:3000/metrics',
    run: async (ctx, output, curl) => {
      const res = await fetchText(curlToRequest(curl, ctx.base));
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain;( charset=utf-8;)? version=0\.0\.4/); // Express 4 (Nest 11) adds the charset
      const scraped = res.body.split('\n');
      const shown = (output ?? '').split('\n').filter(l => l.startsWith('nestjs_zeromq_'));
      expect(shown.length).toBeGreaterThan(0);
      for (const line of shown) expect(scraped).toContain(line);
    },
  },
  { curl: 'curl -s localhost:3000/health', run: health(200) },
  {
    action: "the walkthrough's CLI examples (npx nestjs-zeromq ...) against math and notifications",
    run: async (ctx: Ctx) => {
      const examples = walkthroughCli(ctx.walkthrough, ctx.shellEnv);
      expect(examples.map(e => e.args[0])).toEqual(['ping', 'call', 'call', 'stream', 'emit']);
      const local = (arg: string) =>
        arg
          .replace('tcp://127.0.0.1:4001', ctx.mathEndpoint)
          .replace('tcp://127.0.0.1:4002', ctx.notificationsEndpoint);
      // Times and ports differ from the walkthrough's.
      const normalize = (text: string) =>
        text.replace(/tcp:\/\/127\.0\.0\.1:\d+/g, 'tcp://127.0.0.1:PORT').replace(/[\d.]+ ms/g, 'N ms');
      // 90 s: only a hang guard (each CLI process compiles the sources as it loads them).
      // The examples talk as the gateway, the one key the services let in (the walkthrough's exports).
      process.env.NESTJS_ZEROMQ_PUBLIC_KEY = ctx.shellEnv.NESTJS_ZEROMQ_PUBLIC_KEY;
      process.env.NESTJS_ZEROMQ_SECRET_KEY = ctx.shellEnv.NESTJS_ZEROMQ_SECRET_KEY;
      const runs = await Promise.all(examples.map(e => runTsChild('lib/cli/bin.ts', e.args.map(local), 90_000)));
      runs.forEach((r, i) => {
        const shown = examples[i]!.output;
        expect(normalize(r.stdout + r.stderr)).toBe(normalize(shown));
        expect(r.code).toBe(shown.startsWith('error ') ? 1 : 0);
      });
    },
    timeoutMs: 120_000,
  },
  {
    curl: 'curl -N localhost:3000/count/1000',
    run: async (ctx, _output, curl) => {
      ctx.open = await SseReader.open(curlToRequest(curl, ctx.base));
      await ctx.open.waitEvents(1);
    },
  },
  {
    // Needs the transport's heartbeats: a killed (not closed) service says no BYE.
    action: 'kill -9 math: the gateway reports it, the open stream ends with PEER_LOST',
    run: async (ctx: Ctx) => {
      const from = ctx.launcher.lines.length;
      process.kill(pidsOf(ctx.launcher).get('math')!, 'SIGKILL');
      await ctx.launcher.waitFor(/^\[sample\] math exited \(SIGKILL\)/, 'the launcher to see math die', 10_000, from);
      const left = await ctx.launcher.waitFor(
        /^\[gateway\].*peer left: math \(tcp:\/\/127\.0\.0\.1:\d+\), reason: (timeout|disconnect)$/,
        'the gateway to report math gone',
        10_000,
        from,
      );
      expect(left).toContain(ctx.mathEndpoint);
      const events = await ctx.open!.waitEnd();
      const last = events[events.length - 1]!;
      expect(last.event).toBe('error');
      expect(JSON.parse(last.data!)).toEqual({ statusCode: 503, code: 'PEER_LOST', message: expect.any(String) });
      ctx.killReported = true;
    },
  },
  { curl: "curl -s 'localhost:3000/sum?a=2&b=3'", run: errorLike(503), afterKill: true },
  { curl: 'curl -s localhost:3000/health', run: health(503), afterKill: true },
  {
    // The walkthrough's command, in an environment with no key and no sample setting (a new terminal).
    action: "start math again with the walkthrough's command: the gateway sees it join",
    afterKill: true,
    run: async (ctx: Ctx) => {
      const from = ctx.launcher.lines.length;
      const [node, ...args] = commandWords(bashAfter(ctx.walkthrough, 'Start math again'));
      expect(node).toBe('node');
      const fresh = Object.keys(process.env).filter(k => /CURVE|ENDPOINT|^ZMQ_|^HTTP_|^NESTJS_ZEROMQ_/.test(k));
      const clean = Object.fromEntries(fresh.map(k => [k, undefined]));
      ctx.restarted = App.start('math (restarted)', args, ctx.root, clean);
      await ctx.restarted.waitFor(/^READY math /, 'math to start again', STARTUP_MS);
      await ctx.launcher.waitFor(/^\[gateway\].*peer joined: math /, 'the gateway to see math again', 10_000, from);
      // The service side, through the injectable ZmqPeerEvents.
      await ctx.restarted.waitFor(/LOG \[Callers\] caller joined: \S+ \(gateway\)$/, 'math to see the gateway', 10_000);
    },
  },
  { curl: "curl -s 'localhost:3000/sum?a=2&b=3'", run: exactly(200), afterKill: true },
];

/**
 * The CLI examples of sample/README.md: each bash block of one
 * `npx nestjs-zeromq ...` line and the output block right after it, the line
 * split as a shell would (single quotes, "$NAME" from the shell's `env`).
 */
function walkthroughCli(text: string, env: Record<string, string>): Array<{ args: string[]; output: string }> {
  const examples: Array<{ args: string[]; output: string }> = [];
  const cliBlocks = /```bash\nnpx nestjs-zeromq ([^\n|;]+)\n```\n```(?:text|json)\n([\s\S]*?)```/g;
  for (const m of text.matchAll(cliBlocks)) {
    const args = [...m[1]!.matchAll(/'([^']*)'|"\$(\w+)"|(\S+)/g)].map(a => {
      if (a[2] === undefined) return (a[1] ?? a[3])!;
      const value = env[a[2]];
      if (value === undefined) throw new Error(`the walkthrough's shell has no $${a[2]}`);
      return value;
    });
    if (args[0] !== 'top') examples.push({ args, output: m[2]! });
  }
  return examples;
}

/** pids of the apps the launcher started, from its "[sample] <app> started (pid N)" lines. */
function pidsOf(launcher: App): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of launcher.lines) {
    const m = /^\[sample\] (\S+) started \(pid (\d+)\)/.exec(line);
    if (m) pids.set(m[1]!, Number(m[2]));
  }
  return pids;
}

const curlSteps = STEPS.filter((s): s is Extract<Step, { curl: string }> => 'curl' in s);

/**
 * Runs the walkthrough's shell lines that load the gateway's environment
 * (bash, from the repository root, in an environment with no key) and returns
 * the environment they leave.
 */
function shellEnvOf(root: string, walkthrough: string): Record<string, string> {
  const script = `${bashAfter(walkthrough, '## The CLI against the sample')}\nenv -0`;
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/CURVE|^NESTJS_ZEROMQ_/.test(k)));
  const out = execFileSync('bash', ['-c', script], { cwd: root, env: base, encoding: 'utf8' });
  return Object.fromEntries(
    out
      .split('\0')
      .filter(Boolean)
      .map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describe('sample: the walkthrough of sample/README.md over HTTP', () => {
  const root = repoRoot();
  const walkthrough = readFileSync(join(root, 'sample', 'README.md'), 'utf8');
  const readme = walkthroughSteps(walkthrough);
  const ctx = {} as Ctx;

  beforeAll(async () => {
    ctx.root = root;
    ctx.walkthrough = walkthrough;
    // What an earlier run left must not stand in for what this one writes.
    rmSync(join(root, 'sample', '.run'), { recursive: true, force: true });
    const noKeys = Object.fromEntries(
      Object.keys(process.env)
        .filter(k => /CURVE/.test(k))
        .map(k => [k, undefined]),
    );
    ctx.launcher = App.start('npm run sample', ['sample/start.mjs'], root, { ...noKeys, ...SAMPLE_ENV });
    const ready = await ctx.launcher.waitFor(/^\[gateway\]\s+READY gateway /, 'the gateway', STARTUP_MS);
    ctx.base = ready.split(' ').pop()!;
    const math = await ctx.launcher.waitFor(/^\[math\]\s+READY math /, 'math');
    ctx.mathEndpoint = math.split(' ').pop()!;
    const notifications = await ctx.launcher.waitFor(/^\[notifications\]\s+READY notifications /, 'notifications');
    ctx.notificationsEndpoint = notifications.split(' ').pop()!;
    await ctx.launcher.waitFor(/^\[sample\] .*Ctrl-C stops everything/, 'the curl hints');
    ctx.shellEnv = shellEnvOf(root, walkthrough);
  }, STARTUP_MS + 10_000);

  afterAll(async () => {
    ctx.open?.close();
    const apps = [ctx.restarted, ctx.launcher].filter((a): a is App => a !== undefined && a.running);
    for (const app of apps) app.child.kill('SIGTERM');
    await Promise.all(
      apps.map(a => within(a.exited, 15_000, `${a.name} to exit`).catch(() => a.child.kill('SIGKILL'))),
    );
    // Whatever survived (the launcher was killed before it could stop its apps): SIGKILL, by pid.
    for (const pid of ctx.launcher ? pidsOf(ctx.launcher).values() : []) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }, 30_000);

  test('the services run with CURVE, with the keys npm run sample made', async () => {
    await ctx.launcher.waitFor(/^\[sample\] no CURVE keys in the environment: made a key pair per app/, 'new keys');
    for (const app of ['math', 'notifications'] as const) {
      const line = await ctx.launcher.waitFor(new RegExp(`^\\[${app}\\].*CURVE on: key `), `${app} CURVE on`);
      const key = ctx.shellEnv[`${app.toUpperCase()}_CURVE_PUBLIC_KEY`];
      expect(key).toMatch(/^.{40}$/);
      expect(line).toContain(key);
    }
  });

  test("each app's environment is in sample/.run/<app>.env, readable by its user only", () => {
    for (const app of APPS) {
      const file = join(root, 'sample', '.run', `${app}.env`);
      expect({ app, mode: (statSync(file).mode & 0o777).toString(8) }).toEqual({ app, mode: '600' });
      const secrets = readFileSync(file, 'utf8').match(/^\w+_CURVE_SECRET_KEY=/gm);
      expect(secrets).toEqual([`${app.toUpperCase()}_CURVE_SECRET_KEY=`]);
    }
  });

  test('the walkthrough shows these curl commands, in this order', () => {
    expect(readme.map(s => s.curl)).toEqual(curlSteps.map(s => s.curl));
  });

  test('the launcher prints curl hints that the walkthrough runs', () => {
    const host = ctx.base.replace('http://127.0.0.1', 'localhost');
    const hints = ctx.launcher.lines
      .filter(l => l.startsWith('  curl '))
      .map(l => l.trim().split(host).join('localhost:3000'));
    expect(hints.length).toBeGreaterThan(0);
    for (const hint of hints) expect(readme.map(s => s.curl)).toContain(hint);
  });

  let n = 0;
  for (const step of STEPS) {
    const index = 'curl' in step ? n++ : -1;
    const name = 'curl' in step ? `${index + 1}. ${step.curl}` : `   ${step.action}`;
    test(
      name,
      async () => {
        if (step.afterKill && !ctx.killReported) throw new Error('not run: the kill -9 step before it failed');
        if ('curl' in step) {
          const shown = readme[index];
          expect(shown?.curl).toBe(step.curl);
          await step.run(ctx, shown?.output, step.curl);
        } else {
          await step.run(ctx);
        }
      },
      step.timeoutMs ?? 30_000,
    );
  }

  test('SIGTERM to the launcher stops every app', async () => {
    const launcher = ctx.launcher;
    launcher.child.kill('SIGTERM');
    const { code } = await within(launcher.exited, 20_000, 'the launcher to exit');
    expect({ code, tail: code === 0 ? '' : launcher.tail() }).toEqual({ code: 0, tail: '' });
    const apps = pidsOf(launcher);
    expect([...apps.keys()].sort()).toEqual(['gateway', 'math', 'notifications']);
    expect([...apps.entries()].filter(([, pid]) => alive(pid))).toEqual([]);
  }, 30_000);
});
