#!/usr/bin/env node
// Consumer smoke test: installs the packed package into a fresh app and runs
// the README's quick start, exactly as written, once compiled as a CommonJS
// app and once as an ESM app. Run after `npm run build` (npm pack builds too).
//
// Prints `consumers: N passed, M failed` last and exits non-zero on failure.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STEP_LIMIT_MS = 60_000; // guards against a hang only
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function sh(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
}

function versionOf(pkg) {
  return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
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

function run(cmd, args, cwd, { until } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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
      finish(rej, new Error(`${args.join(' ')} did not finish within ${STEP_LIMIT_MS} ms:\n${out}`));
    }, STEP_LIMIT_MS);
    const onData = d => {
      out += d;
      if (until && until.test(out)) finish(res, { child, out: () => out });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', code => {
      if (until) finish(rej, new Error(`${args.join(' ')} exited (${code}) before it was ready:\n${out}`));
      else if (code === 0) finish(res, { out: () => out });
      else finish(rej, new Error(`${args.join(' ')} exited with ${code}:\n${out}`));
    });
  });
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'nestjs-zeromq-consumer-'));
  const results = [];
  try {
    console.log(`consumer app in ${work}`);
    const tarball = sh(npm, ['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop();
    const deps = [
      join(work, tarball),
      `@nestjs/common@${versionOf('@nestjs/common')}`,
      `@nestjs/core@${versionOf('@nestjs/core')}`,
      `@nestjs/microservices@${versionOf('@nestjs/microservices')}`,
      `rxjs@${versionOf('rxjs')}`,
      `reflect-metadata@${versionOf('reflect-metadata')}`,
      `typescript@${versionOf('typescript')}`,
      `@types/node@${versionOf('@types/node')}`,
    ];
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true }, null, 2));
    console.log(`installing ${deps.map(d => d.replace(work + '/', '')).join(' ')}`);
    sh(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...deps], work);

    const { service, caller } = quickStart();
    let port = 4000;
    if (!(await portFree(port))) {
      port = await freePort();
      console.log(`port 4000 is busy on this machine; the quick start runs on ${port} instead`);
    }
    const withPort = s => s.replaceAll('127.0.0.1:4000', `127.0.0.1:${port}`);

    for (const type of ['commonjs', 'module']) {
      const name = type === 'module' ? 'esm' : 'cjs';
      const dir = join(work, name);
      mkdirSync(join(dir, 'src'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `quickstart-${name}`, private: true, type }, null, 2));
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify(
          {
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
          },
          null,
          2,
        ),
      );
      writeFileSync(join(dir, 'src', 'service.ts'), withPort(service));
      writeFileSync(join(dir, 'src', 'caller.ts'), withPort(caller));
      try {
        sh(process.execPath, [join(work, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], dir);
        const svc = await run(process.execPath, ['dist/service.js'], dir, { until: /successfully started/ });
        let callerOut;
        try {
          callerOut = (await run(process.execPath, ['dist/caller.js'], dir)).out();
        } finally {
          await new Promise(r => {
            svc.child.once('exit', r);
            svc.child.kill('SIGTERM');
          });
        }
        const lines = callerOut.split('\n').map(l => l.trim());
        const expect = ['6', '[ 0, 1, 2, 3, 4 ]', '[ 0, 1 ]'];
        const missing = expect.filter(e => !lines.includes(e));
        if (missing.length) throw new Error(`caller output lacks ${JSON.stringify(missing)}:\n${callerOut}`);
        if (!/audit \{ user: 'ann' \}/.test(svc.out())) throw new Error(`service never logged the audit event:\n${svc.out()}`);
        console.log(`PASS quick start as ${name}: sum, 5-value stream, cancelled stream, event`);
        results.push(true);
      } catch (err) {
        console.log(`FAIL quick start as ${name}: ${err.message}`);
        results.push(false);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const passed = results.filter(Boolean).length;
  const failed = results.length - passed;
  console.log(`consumers: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed === 2 ? 0 : 1);
}

main().catch(err => {
  console.error(err);
  console.log('consumers: 0 passed, 2 failed');
  process.exit(1);
});
