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
//
// Each app's environment (its CURVE keys and, for a service, the endpoint it
// bound) is written to sample/.run/<app>.env (mode 0600, git-ignored: it holds
// that app's secret key), so that one app can be started again by hand, as it
// ran: `node --env-file=sample/.run/math.env -r ./sample/register.cjs sample/math/src/main.ts`.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { curveKeyPair } from 'zeromq';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const RUN_DIR = join(here, '.run');
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

/** The settings every app reads from its environment, besides endpoints and keys. */
const SETTINGS = [
  'HTTP_HOST',
  'HTTP_PORT',
  'ZMQ_HEARTBEAT_INTERVAL',
  'ZMQ_HEARTBEAT_LIVENESS',
  'ZMQ_RESOLVE_INTERVAL',
  'ZMQ_DRAIN_TIMEOUT',
  'COUNT_TICK_MS',
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

/**
 * Per app, the CURVE variables of its environment: the ones set already, or a
 * key pair made per app (every app gets the public keys, each only its own secret key).
 */
function curveEnvs() {
  if (CURVE_APPS.some(app => process.env[curveVar(app, 'PUBLIC')])) {
    const given = name => (process.env[name] ? { [name]: process.env[name] } : {});
    const publicKeys = Object.assign({}, ...CURVE_APPS.map(app => given(curveVar(app, 'PUBLIC'))));
    return Object.fromEntries(CURVE_APPS.map(app => [app, { ...publicKeys, ...given(curveVar(app, 'SECRET')) }]));
  }
  const pairs = Object.fromEntries(CURVE_APPS.map(app => [app, curveKeyPair()]));
  say('no CURVE keys in the environment: made a key pair per app (npx nestjs-zeromq keygen makes one)');
  const publicKeys = Object.fromEntries(CURVE_APPS.map(app => [curveVar(app, 'PUBLIC'), pairs[app].publicKey]));
  return Object.fromEntries(
    CURVE_APPS.map(app => [app, { ...publicKeys, [curveVar(app, 'SECRET')]: pairs[app].secretKey }]),
  );
}

/** The sample's settings (sample/shared/src/config.ts) set in this environment: an app started again keeps them. */
function settings() {
  return Object.fromEntries(SETTINGS.filter(name => process.env[name]).map(name => [name, process.env[name]]));
}

/**
 * Writes an app's environment to sample/.run/<app>.env for `node --env-file=`:
 * readable by this user only, since it holds the app's secret key. Z85 keys
 * hold no quote, so single quotes keep every value as it is, for node --env-file and a shell alike.
 */
function writeRunEnv(app, env) {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  const file = join(RUN_DIR, `${app}.env`);
  const lines = [`# ${app}'s environment in the last npm run sample: it holds a secret key`];
  for (const [name, value] of Object.entries(env)) lines.push(`${name}='${value}'`);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // a file left by an earlier run keeps its mode otherwise
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
  // A service started again from its file binds the endpoint it has now, where the gateway reconnects.
  writeRunEnv('math', { ...settings(), ...curve.math, MATH_ENDPOINT: mathEndpoint });
  writeRunEnv('notifications', {
    ...settings(),
    ...curve.notifications,
    NOTIFICATIONS_ENDPOINT: notificationsEndpoint,
  });
  const gatewayEnv = { ...curve.gateway, MATH_ENDPOINT: mathEndpoint, NOTIFICATIONS_ENDPOINT: notificationsEndpoint };
  writeRunEnv('gateway', { ...settings(), ...gatewayEnv });
  const gateway = start('gateway', 'sample/gateway/src/main.ts', gatewayEnv);
  const base = (await whenReady('gateway', gateway)).replace(/^http:\/\/(127\.0\.0\.1|0\.0\.0\.0)/, 'localhost');
  say("each app's environment is in sample/.run/<app>.env, to start one again by hand (sample/README.md)");
  say(`all apps are up; the gateway listens on http://${base}. Try:`);
  for (const hint of HINTS) process.stdout.write(`  ${hint.replace('{base}', base)}\n`);
  say('sample/README.md walks through each step. Ctrl-C stops everything.');
}

main().catch(err => {
  say(`failed: ${err.message}`);
  void stopAll(1);
});
