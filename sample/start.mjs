#!/usr/bin/env node
// `npm run sample`: starts the math and notifications services, then the
// gateway once both are listening, prefixes each app's output with its name,
// and prints where to point curl. Ctrl-C (SIGINT) or SIGTERM stops every app.
//
// Settings come from the environment (see sample/shared/src/config.ts):
// HTTP_PORT (3000), MATH_ENDPOINT (tcp://127.0.0.1:4001),
// NOTIFICATIONS_ENDPOINT (tcp://127.0.0.1:4002), ZMQ_HEARTBEAT_INTERVAL (250),
// ZMQ_HEARTBEAT_LIVENESS (3), COUNT_TICK_MS (200), and the CURVE keys
// <APP>_CURVE_PUBLIC_KEY / <APP>_CURVE_SECRET_KEY for APP = MATH,
// NOTIFICATIONS, GATEWAY (`npx nestjs-zeromq keygen --env --prefix MATH_CURVE`).
// With none of them set, it makes a key pair per app: the sample always runs
// encrypted, and each app gets only its own secret key.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { curveKeyPair } from 'zeromq';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const START_LIMIT_MS = 60_000; // guards against an app that never gets ready
const STOP_GRACE_MS = 5_000; // then SIGKILL

/** The curl commands printed once everything runs ({base} is the gateway's host:port). */
const HINTS = [
  "curl -s '{base}/sum?a=2&b=3'",
  'curl -N {base}/count/5',
  `curl -s -X POST {base}/notify -H 'content-type: application/json' -d '{"to":"ann","text":"hello"}'`,
  "curl -s '{base}/divide?a=1&b=0'",
  'curl -s {base}/peers',
];

const apps = new Map(); // name -> { child, ready: Promise<string>, exited: Promise<void> }
let stopping = false;

function say(line) {
  process.stdout.write(`[sample] ${line}\n`);
}

function start(name, entry, env = {}) {
  const child = spawn(process.execPath, ['-r', './sample/register.cjs', entry], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a Ctrl-C reaches this script only, which then stops the apps in order.
    detached: true,
  });
  say(`${name} started (pid ${child.pid})`);
  const label = `[${name}]`.padEnd(16);
  let announce;
  const ready = new Promise(resolve => (announce = resolve));
  createInterface({ input: child.stdout }).on('line', line => {
    const m = /^READY (\S+) (\S+)/.exec(line);
    if (m && m[1] === name) announce(m[2]);
    process.stdout.write(`${label}${line}\n`);
  });
  createInterface({ input: child.stderr }).on('line', line => process.stderr.write(`${label}${line}\n`));
  const exited = new Promise(resolve =>
    child.once('exit', (code, signal) => {
      say(`${name} exited (${signal ?? `code ${code}`})`);
      apps.delete(name);
      resolve();
      if (apps.size === 0 && !stopping) process.exit(code === 0 ? 0 : 1);
    }),
  );
  const app = { child, ready, exited };
  apps.set(name, app);
  return app;
}

/** Resolves with the READY address; rejects when the app exits or takes too long. */
function whenReady(name, app) {
  let timer;
  return Promise.race([
    app.ready,
    app.exited.then(() => Promise.reject(new Error(`${name} exited before it was ready`))),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} not ready after ${START_LIMIT_MS} ms`)), START_LIMIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  const running = [...apps.entries()];
  if (running.length > 0) say(`stopping ${running.map(([name]) => name).join(', ')}`);
  await Promise.all(
    running.map(([, { child, exited }]) => {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      return exited.finally(() => clearTimeout(force));
    }),
  );
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

const CURVE_APPS = ['math', 'notifications', 'gateway'];
const curveVar = (app, kind) => `${app.toUpperCase()}_CURVE_${kind}_KEY`;

/** Per app, the CURVE variables to add to its environment: none when the environment has keys already. */
function curveEnvs() {
  if (CURVE_APPS.some(app => process.env[curveVar(app, 'PUBLIC')])) return {};
  const pairs = Object.fromEntries(CURVE_APPS.map(app => [app, curveKeyPair()]));
  say('no CURVE keys in the environment: made a key pair per app (npx nestjs-zeromq keygen makes one)');
  const publicKeys = Object.fromEntries(CURVE_APPS.map(app => [curveVar(app, 'PUBLIC'), pairs[app].publicKey]));
  return Object.fromEntries(
    CURVE_APPS.map(app => [app, { ...publicKeys, [curveVar(app, 'SECRET')]: pairs[app].secretKey }]),
  );
}

async function main() {
  const curve = curveEnvs();
  const math = start('math', 'sample/math/src/main.ts', curve.math);
  const notifications = start('notifications', 'sample/notifications/src/main.ts', curve.notifications);
  // The services may bind `tcp://127.0.0.1:*`: the gateway connects to the endpoints they report.
  const [mathEndpoint, notificationsEndpoint] = await Promise.all([
    whenReady('math', math),
    whenReady('notifications', notifications),
  ]);
  const gateway = start('gateway', 'sample/gateway/src/main.ts', {
    ...curve.gateway,
    MATH_ENDPOINT: mathEndpoint,
    NOTIFICATIONS_ENDPOINT: notificationsEndpoint,
  });
  const base = (await whenReady('gateway', gateway)).replace(/^http:\/\/127\.0\.0\.1/, 'localhost');
  say(`all apps are up; the gateway listens on http://${base}. Try:`);
  for (const hint of HINTS) process.stdout.write(`  ${hint.replace('{base}', base)}\n`);
  say('the README (section "Sample") walks through each step. Ctrl-C stops everything.');
}

main().catch(err => {
  say(`failed: ${err.message}`);
  void stopAll(1);
});
