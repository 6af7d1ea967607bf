#!/usr/bin/env node
// Consumer smoke tests of the packed package (npm run test:consumers).
//
//   node test/consumers/run.mjs [package@version ...]
//
// 1. Builds dist/ (unless CONSUMERS_BUILT=1 says it is fresh), then checks what `npm pack` would ship.
// 2. Packs the tarball into a temp dir and installs it there with the Nest
//    packages, rxjs and reflect-metadata: by default the versions installed in
//    this repo's node_modules; package@version arguments override them (CI
//    passes the Nest 11 versions for a second run).
// 3. Runs these apps against it, CONSUMER_JOBS (2) at a time, each of which must exit 0 on its own:
//    esm           esm-app.mjs as main.js of a "type": "module" app (named imports)
//    cjs           cjs-app.cjs as main.cjs (require)
//    readme-esm    the README quick start, verbatim, compiled by tsc (nodenext) as ESM
//    readme-cjs    the same compiled as CommonJS
//    node-test-esm node --test in an ESM app: the ESM build, singletons shared with the CJS build
//    node-test-cjs node --test in a CommonJS app: the CJS build
//    jest-esm      the README's "Testing your app" Jest spec and config, verbatim, in an ESM app
//                  (node --experimental-vm-modules, as a Nest 12 user on Node 20 must)
//    jest-cjs      the same spec in a CommonJS app: plain jest with Nest 11; with Nest 12 only on
//                  Node >= 24.9, under node --experimental-vm-modules (Jest's require() of ESM needs both)
//    cli           `npx nestjs-zeromq --help` and `stream --help`: the package's bin, from the CJS build;
//                  the `nestjs-zeromq/terminus` subpath resolves for require and import
//    ts7           TypeScript 7 (installed into that app only) type-checks the README quick start and
//                  ts7-app.ts with the tsconfig of `tsc --init` plus the README's additions, skipLibCheck off,
//                  then runs the README's Jest spec with its @swc/jest config
//
// Prints `consumers (<nest versions>): N passed, M failed` last; exits non-zero on any failure.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const APP_LIMIT_MS = 60_000; // guards against a hang only
const JOBS = Math.max(1, Number(process.env.CONSUMER_JOBS ?? 2));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const NEST = ['@nestjs/common', '@nestjs/core', '@nestjs/microservices'];
const PEERS = [...NEST, 'rxjs', 'reflect-metadata'];

function sh(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
}

/** `sh` without blocking: the apps run side by side, so none of them may hold up the event loop. */
function shAsync(cmd, args, cwd) {
  return new Promise((res, rej) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else res(stdout);
    });
  });
}

function versionIn(dir, pkg) {
  return JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

function writeJson(file, value) {
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** npm prints lifecycle output before the JSON when it runs prepack: keep the JSON. */
function packJson(out) {
  const start = out.search(/^\[/m);
  if (start < 0) throw new Error(`npm pack printed no JSON:\n${out}`);
  return JSON.parse(out.slice(start))[0];
}

/** The string values of a nested object (the paths of package.json "exports", not its keys). */
function leavesOf(value) {
  return typeof value === 'string' ? [value] : Object.values(value).flatMap(leavesOf);
}

/**
 * What would ship: both builds (dist/cjs, dist/esm: the same files, each .js with its .d.ts, each build
 * with the package.json that sets its module type), LICENSE, README, package.json; no tests, sources or configs.
 */
function checkPackContents() {
  const pack = packJson(sh(npm, ['pack', '--dry-run', '--ignore-scripts', '--json', '--loglevel=error'], root));
  const files = pack.files.map(f => f.path);
  const problems = [];
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const entryPoints = [
    manifest.main,
    manifest.types,
    ...Object.values(manifest.bin ?? {}),
    ...leavesOf(manifest.exports ?? {}),
  ];
  const markers = ['dist/cjs/package.json', 'dist/esm/package.json'];
  for (const required of [
    'package.json',
    'README.md',
    'LICENSE',
    ...markers,
    ...entryPoints.map(p => p.replace(/^\.\//, '')),
  ]) {
    if (!files.includes(required)) problems.push(`missing ${required}`);
  }
  const js = files.filter(f => /^dist\/.*\.js$/.test(f));
  if (js.length === 0) problems.push('no dist/**/*.js');
  for (const f of js) if (!files.includes(f.replace(/\.js$/, '.d.ts'))) problems.push(`${f} has no .d.ts`);
  for (const f of js) {
    const twin = f.startsWith('dist/cjs/') ? f.replace('dist/cjs/', 'dist/esm/') : f.replace('dist/esm/', 'dist/cjs/');
    if (!files.includes(twin)) problems.push(`${f} has no twin ${twin} in the other build`);
  }
  const forbidden =
    /^(lib|test|sample|bench|\.ci|coverage|node_modules)\/|\.spec\.|(?<!\.d)\.ts$|\.map$|\.tgz$|^tsconfig|^jest\.config|^nest-cli/;
  for (const f of files) if (forbidden.test(f)) problems.push(`should not ship ${f}`);
  if (problems.length)
    throw new Error(`npm pack contents:\n  ${problems.join('\n  ')}\nfiles:\n  ${files.join('\n  ')}`);
  const others = files.filter(f => !/^dist\//.test(f) || markers.includes(f));
  console.log(
    `pack contents OK: ${pack.filename}, ${files.length} files, ${(pack.size / 1024).toFixed(1)} kB packed: ` +
      `${js.length / 2} .js files in each of dist/cjs and dist/esm, each with .d.ts, ${others.join(', ')}`,
  );
}

/** The "Testing your app" spec and Jest config of the README, verbatim. */
function testingBlocks() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const spec = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map(m => m[1])
    .find(b => b.includes("describe('MathController over ZeroMQ'"));
  const config = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
    .map(m => m[1])
    .find(b => b.includes('extensionsToTreatAsEsm') && b.includes("'ts-jest'"));
  if (!spec || !config) throw new Error('README "Testing your app" blocks not found');
  return { spec, config };
}

/** The two quick-start blocks of the README, verbatim. */
function quickStart() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1]);
  const service = blocks.find(b => b.includes('new ServerZmq({ bind') && b.includes('class MathController'));
  const caller = blocks.find(b => b.includes('class Caller'));
  if (!service || !caller) throw new Error('README quick start blocks not found');
  return { service, caller };
}

function portFree(port) {
  return new Promise(res => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/**
 * Runs `node <args>` in cwd. Without `until`: resolves when it exits 0 on its
 * own, rejects on another exit code or after APP_LIMIT_MS (then kills it).
 * With `until`: resolves with the running child once its output matches.
 */
function run(args, cwd, { until } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let settled = false;
    const finish = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      fn(v);
    };
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      finish(
        rej,
        new Error(`node ${args.join(' ')} did not exit on its own within ${APP_LIMIT_MS} ms (killed):\n${out}`),
      );
    }, APP_LIMIT_MS);
    const onData = d => {
      out += d;
      if (until && until.test(out)) finish(res, { child, out: () => out });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, sig) => {
      if (until) finish(rej, new Error(`node ${args.join(' ')} exited (${code ?? sig}) before it was ready:\n${out}`));
      else if (code === 0) finish(res, { out: () => out });
      else finish(rej, new Error(`node ${args.join(' ')} exited with ${code ?? sig}:\n${out}`));
    });
  });
}

/** esm / cjs: the plain-JS apps; the app prints `PASS <name>: ...` and exits 0 on its own. */
async function plainApp(work, name) {
  const dir = join(work, name);
  mkdirSync(dir);
  const esm = name === 'esm';
  writeJson(join(dir, 'package.json'), { name: `consumer-${name}`, private: true, type: esm ? 'module' : 'commonjs' });
  copyFileSync(join(here, 'scenario.cjs'), join(dir, 'scenario.cjs'));
  const main = esm ? 'main.js' : 'main.cjs';
  copyFileSync(join(here, esm ? 'esm-app.mjs' : 'cjs-app.cjs'), join(dir, main));
  const out = (await run([main], dir)).out();
  const pass = out.split('\n').find(l => l.startsWith(`PASS ${name}:`));
  if (!pass) throw new Error(`exited 0 without a PASS line:\n${out}`);
  return pass.slice(`PASS ${name}: `.length);
}

/** node-test-esm / node-test-cjs: `node --test` runs one test file that must pass. */
async function nodeTestApp(work, name) {
  const dir = join(work, name);
  mkdirSync(dir);
  const esm = name === 'node-test-esm';
  writeJson(join(dir, 'package.json'), { name: `consumer-${name}`, private: true, type: esm ? 'module' : 'commonjs' });
  copyFileSync(join(here, 'scenario.cjs'), join(dir, 'scenario.cjs'));
  const file = esm ? 'consumer.test.mjs' : 'consumer.test.cjs';
  copyFileSync(join(here, esm ? 'node-test.mjs' : 'node-test.cjs'), join(dir, file));
  // TAP on every Node line (Node 23+ prints its spec reporter by default).
  const out = (await run(['--test', '--test-reporter=tap', file], dir)).out();
  if (!/^# pass 1$/m.test(out) || !/^# fail 0$/m.test(out)) throw new Error(`node --test did not pass 1 of 1:\n${out}`);
  return esm
    ? 'node --test: ESM build, ZMQ_TRANSPORT and ZmqPeerEvents shared with the CJS build'
    : 'node --test: CJS build';
}

/** jest-esm / jest-cjs: the README's Jest spec and config, run by Jest in the app. */
async function jestApp(work, name, nestMajor) {
  const { spec, config } = testingBlocks();
  const dir = join(work, name);
  mkdirSync(join(dir, 'test'), { recursive: true });
  const esm = name === 'jest-esm';
  writeJson(join(dir, 'package.json'), { name: `consumer-${name}`, private: true, type: esm ? 'module' : 'commonjs' });
  writeJson(join(dir, 'tsconfig.json'), {
    compilerOptions: {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      isolatedModules: true,
      skipLibCheck: true,
    },
  });
  writeFileSync(join(dir, 'test', 'math.e2e-spec.ts'), spec);
  if (esm) {
    writeFileSync(join(dir, 'jest.config.mjs'), config);
  } else {
    // What the README says a CommonJS app changes: no extensionsToTreatAsEsm, no useESM.
    const cjs = config
      .replace("  extensionsToTreatAsEsm: ['.ts'],\n", '')
      .replace('{ useESM: true }', '{}')
      .replace('export default', 'module.exports =');
    if (cjs.includes('useESM') || cjs.includes('extensionsToTreatAsEsm'))
      throw new Error('could not derive the CJS config');
    writeFileSync(join(dir, 'jest.config.cjs'), cjs);
  }
  const jest = join(work, 'node_modules', 'jest', 'bin', 'jest.js');
  // Nest 12 in a CommonJS app: Jest's require() of ESM needs vm modules too (and Node >= 24.9).
  const vmModules = esm || nestMajor >= 12;
  const args = [...(vmModules ? ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning'] : []), jest, '--ci'];
  const out = (await run(args, dir)).out();
  if (!/^Tests:\s+2 passed, 2 total$/m.test(out)) throw new Error(`Jest did not pass 2 of 2:\n${out}`);
  if (esm) return 'Jest (ESM mode, ts-jest useESM): README spec, 2 of 2';
  return `Jest (CommonJS, ts-jest${vmModules ? ', --experimental-vm-modules' : ''}): README spec, 2 of 2`;
}

/** cli: the installed package's bin runs through npx, as the README shows. */
async function cliApp(work) {
  const help = await shAsync(npx, ['--no-install', 'nestjs-zeromq', '--help'], work);
  if (!/^Usage: nestjs-zeromq <command>/.test(help) || !/^ {2}stream /m.test(help))
    throw new Error(`npx nestjs-zeromq --help printed:\n${help}`);
  const stream = await shAsync(npx, ['--no-install', 'nestjs-zeromq', 'stream', '--help'], work);
  if (!stream.includes('Usage: nestjs-zeromq stream <endpoint>'))
    throw new Error(`npx nestjs-zeromq stream --help printed:\n${stream}`);
  // The terminus subpath resolves in both builds (terminus itself is not installed here: the main entry,
  // which every other app loads, must not need it).
  const cjs = (await shAsync(process.execPath, ['-p', "require.resolve('nestjs-zeromq/terminus')"], work)).trim();
  const esm = (
    await shAsync(
      process.execPath,
      ['--input-type=module', '-e', "console.log(import.meta.resolve('nestjs-zeromq/terminus'))"],
      work,
    )
  ).trim();
  if (!cjs.endsWith('dist/cjs/terminus.js') || !esm.endsWith('dist/esm/terminus.js'))
    throw new Error(`nestjs-zeromq/terminus resolves to ${cjs} (require) and ${esm} (import)`);
  return 'npx nestjs-zeromq --help and stream --help (the bin, CJS build); nestjs-zeromq/terminus in both builds';
}

/** The tsconfig.json additions the README's "Install" section shows, verbatim (a JSON fragment of compilerOptions). */
function tsconfigAdditions() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```jsonc\n([\s\S]*?)```/g)]
    .map(m => m[1])
    .find(b => b.includes('"experimentalDecorators"'));
  if (!block) throw new Error('README tsconfig additions (a jsonc block with "experimentalDecorators") not found');
  return block.replace(/^\s*\/\/.*$/gm, '').trim();
}

/**
 * ts7: an ESM app (Nest 12's default) with TypeScript 7 in its own node_modules: `tsc --init` writes its
 * tsconfig, the README's additions replace its `"types": []` line, skipLibCheck goes off (so the package's
 * .d.ts files are checked too), and tsc type-checks the README quick start and ts7-app.ts.
 */
async function ts7App(work) {
  const { service, caller } = quickStart();
  const dir = join(work, 'ts7');
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeJson(join(dir, 'package.json'), { name: 'consumer-ts7', private: true, type: 'module' });
  const tools = ['typescript@^7', '@swc/core@^1', '@swc/jest@^0.2'];
  await shAsync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tools], dir);
  const version = versionIn(dir, 'typescript');
  if (!version.startsWith('7.')) throw new Error(`typescript@^7 installed ${version}`);
  const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  await shAsync(process.execPath, [tsc, '--init'], dir);
  const init = readFileSync(join(dir, 'tsconfig.json'), 'utf8');
  if (!init.includes('"types": [],') || !init.includes('"verbatimModuleSyntax": true'))
    throw new Error(`tsc --init wrote what this test does not expect:\n${init}`);
  const tsconfig = init
    .replace('"types": [],', `${tsconfigAdditions()}\n    "noEmit": true,`)
    .replace('"skipLibCheck": true', '"skipLibCheck": false');
  writeFileSync(join(dir, 'tsconfig.json'), tsconfig);
  writeFileSync(join(dir, 'src', 'service.ts'), service);
  writeFileSync(join(dir, 'src', 'caller.ts'), caller);
  copyFileSync(join(here, 'ts7-app.ts'), join(dir, 'src', 'app.ts'));
  try {
    await shAsync(process.execPath, [tsc, '-p', dir], dir);
  } catch (err) {
    throw new Error(`TypeScript ${version}: ${err.stdout ?? err.message}`);
  }
  // The README's Jest setup for TypeScript 7: its spec, with the @swc/jest config (ESM mode).
  const { spec } = testingBlocks();
  mkdirSync(join(dir, 'test'));
  writeFileSync(join(dir, 'test', 'math.e2e-spec.ts'), spec);
  writeFileSync(join(dir, 'jest.config.mjs'), swcJestConfig());
  const jest = join(work, 'node_modules', 'jest', 'bin', 'jest.js');
  const out = (await run(['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', jest, '--ci'], dir)).out();
  if (!/^Tests:\s+2 passed, 2 total$/m.test(out)) throw new Error(`Jest (@swc/jest) did not pass 2 of 2:\n${out}`);
  return (
    `TypeScript ${version}, tsc --init + the README's additions, skipLibCheck off: quick start and ts7-app.ts; ` +
    `Jest with @swc/jest (ESM mode): README spec, 2 of 2`
  );
}

/** The README's @swc/jest config for Jest, verbatim. */
function swcJestConfig() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const config = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map(m => m[1]).find(b => b.includes("'@swc/jest'"));
  if (!config) throw new Error('README @swc/jest config not found');
  return config;
}

/** readme-esm / readme-cjs: the README quick start compiled with tsc (module nodenext) and run. */
async function readmeApp(work, name, port) {
  const { service, caller } = quickStart();
  const withPort = s => s.replaceAll('127.0.0.1:4000', `127.0.0.1:${port}`);
  const dir = join(work, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  const type = name === 'readme-esm' ? 'module' : 'commonjs';
  writeJson(join(dir, 'package.json'), { name: `consumer-${name}`, private: true, type });
  writeJson(join(dir, 'tsconfig.json'), {
    compilerOptions: {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      skipLibCheck: true,
      outDir: 'dist',
      rootDir: 'src',
      types: ['node'],
    },
    include: ['src'],
  });
  writeFileSync(join(dir, 'src', 'service.ts'), withPort(service));
  writeFileSync(join(dir, 'src', 'caller.ts'), withPort(caller));
  await shAsync(process.execPath, [join(work, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
  const svc = await run(['dist/service.js'], dir, { until: /successfully started/ });
  let callerOut;
  try {
    callerOut = (await run(['dist/caller.js'], dir)).out();
  } finally {
    await new Promise(r => {
      svc.child.once('exit', r);
      svc.child.kill('SIGTERM');
    });
  }
  const lines = callerOut.split('\n').map(l => l.trim());
  const missing = ['6', '[ 0, 1, 2, 3, 4 ]', '[ 0, 1 ]'].filter(e => !lines.includes(e));
  if (missing.length) throw new Error(`caller output lacks ${JSON.stringify(missing)}:\n${callerOut}`);
  if (!/audit \{ user: 'ann' \}/.test(svc.out()))
    throw new Error(`service never logged the audit event:\n${svc.out()}`);
  return 'compiled by tsc (nodenext), sum, 5-value stream, cancelled stream, event';
}

async function main() {
  const overrides = process.argv.slice(2);
  const specFor = pkg => overrides.find(s => s.startsWith(`${pkg}@`)) ?? `${pkg}@${versionIn(root, pkg)}`;
  let label = 'not installed';
  let expected = Infinity;
  const results = [];
  const work = mkdtempSync(join(tmpdir(), 'nestjs-zeromq-consumers-'));
  try {
    // CONSUMERS_BUILT=1: dist/ is fresh (CI builds once for both consumer runs).
    if (process.env.CONSUMERS_BUILT !== '1') sh(npm, ['run', 'build', '--silent'], root);
    checkPackContents();
    const tarball = packJson(
      sh(npm, ['pack', '--ignore-scripts', '--json', '--loglevel=error', '--pack-destination', work], root),
    ).filename;
    const deps = [
      join(work, tarball),
      ...PEERS.map(specFor),
      specFor('@nestjs/testing'),
      `typescript@${versionIn(root, 'typescript')}`,
      `jest@${versionIn(root, 'jest')}`,
      `ts-jest@${versionIn(root, 'ts-jest')}`,
      `@types/node@${versionIn(root, '@types/node')}`,
    ];
    writeJson(join(work, 'package.json'), { name: 'nestjs-zeromq-consumers', private: true });
    console.log(`installing into ${work}: ${deps.map(d => d.replace(work + '/', '')).join(' ')}`);
    sh(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...deps], work);
    label = NEST.map(p => `${p.slice('@nestjs/'.length)}@${versionIn(work, p)}`).join(' ');
    console.log(
      `installed: nestjs-zeromq@${versionIn(work, 'nestjs-zeromq')} ${label} zeromq@${versionIn(work, 'zeromq')}`,
    );

    let port = 4000;
    if (!(await portFree(port))) {
      port = await freePort();
      console.log(`port 4000 is busy on this machine; the README quick start runs on ${port} instead`);
    }
    const nestMajor = Number(versionIn(work, '@nestjs/core').split('.')[0]);
    const apps = ['esm', 'cjs', 'readme-esm', 'readme-cjs', 'node-test-esm', 'node-test-cjs', 'jest-esm', 'cli', 'ts7'];
    // Node >= 24.9 lets Jest's CommonJS runtime require() ESM (Nest 12 ships only ESM).
    const [major, minor] = process.versions.node.split('.').map(Number);
    if (nestMajor < 12 || major > 24 || (major === 24 && minor >= 9)) apps.push('jest-cjs');
    else
      console.log(
        `jest-cjs runs with Nest 11, or on Node >= 24.9: Jest on Node ${process.versions.node} cannot require() Nest 12 (ESM only)`,
      );
    expected = apps.length;
    // The two README apps run side by side on their own ports; the first keeps the README's port when it is free.
    const ports = { 'readme-esm': port, 'readme-cjs': await freePort() };
    const runApp = async name => {
      try {
        const what =
          name === 'cli'
            ? await cliApp(work)
            : name === 'ts7'
              ? await ts7App(work)
              : name.startsWith('readme')
                ? await readmeApp(work, name, ports[name])
                : name.startsWith('jest')
                  ? await jestApp(work, name, nestMajor)
                  : name.startsWith('node-test')
                    ? await nodeTestApp(work, name)
                    : await plainApp(work, name);
        console.log(`PASS ${name}: ${what}`);
        results.push(true);
      } catch (err) {
        console.log(`FAIL ${name}: ${err.message}`);
        results.push(false);
      }
    };
    // JOBS apps at a time (each is a handful of node processes); the slowest (ts7: an npm install) starts first.
    const queue = ['ts7', ...apps.filter(a => a !== 'ts7')];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) await runApp(name);
    };
    await Promise.all(Array.from({ length: JOBS }, worker));
  } catch (err) {
    console.log(`FAIL setup: ${err.message}`);
    results.push(false);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const passed = results.filter(Boolean).length;
  const failed = results.length - passed;
  console.log(`consumers (${label}): ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed === expected ? 0 : 1;
}

await main();
