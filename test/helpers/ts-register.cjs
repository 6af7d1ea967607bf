'use strict';
/**
 * Lets a plain `node` process run the TypeScript sources (lib/, test/fixtures/):
 *
 *   node -r ./test/helpers/ts-register.cjs test/fixtures/<script>.ts [args]
 *
 * It hooks `require.extensions['.ts']` and compiles every required .ts file
 * with `ts.transpileModule` (per file, no type checking) to CommonJS/ES2022
 * with legacy decorators and decorator metadata, as Nest needs. Extensionless
 * relative imports (`../../lib`, `./server/server-zmq`) resolve to .ts files
 * because the extension is registered, and so do `./x.js` imports of a file
 * that exists only as `./x.ts`. Nest 12's ESM-only packages load
 * through Node's require(esm) (Node >= 20.19). Source maps are inlined and
 * enabled, so stack traces point into the .ts files.
 *
 * Shared by the e2e process-exit tests and the fault tests (kill -9, SIGSTOP).
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// typescript is large to load: it is required only when a file is not in the disk cache below.
let tsModule;
const ts = () => (tsModule ??= require('typescript'));

const compilerOptions = {
  module: 1, // ts.ModuleKind.CommonJS
  target: 9, // ts.ScriptTarget.ES2022
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: true,
};

const cache = new Map();

/**
 * Transpiled files are also kept on disk, by hash of the file name, source,
 * options and TypeScript version, so that the many child processes of the
 * fault tests do not each load TypeScript and transpile lib/ again (seconds
 * of CPU each). Writes are atomic (a temp file renamed); a cache that cannot
 * be read or written is simply not used.
 */
const diskDir = path.join(os.tmpdir(), `nestjs-zeromq-ts-${process.getuid?.() ?? 'u'}`);
const tsVersion = (() => {
  try {
    return require('typescript/package.json').version;
  } catch {
    return 'unknown';
  }
})();

function diskKey(source, filename) {
  const h = crypto.createHash('sha256');
  h.update(`${tsVersion}\0${JSON.stringify(compilerOptions)}\0${filename}\0${source}`);
  return path.join(diskDir, `${h.digest('hex')}.js`);
}

function readDisk(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function writeDisk(file, output) {
  try {
    fs.mkdirSync(diskDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, output);
    fs.renameSync(tmp, file);
  } catch {
    // no cache then
  }
}

function compile(source, filename) {
  const cached = cache.get(filename);
  if (cached !== undefined && cached.source === source) return cached.output;
  const file = diskKey(source, filename);
  let output = readDisk(file);
  if (output === undefined) {
    output = ts().transpileModule(source, { compilerOptions, fileName: filename, reportDiagnostics: false }).outputText;
    writeDisk(file, output);
  }
  cache.set(filename, { source, output });
  return output;
}

const Module = require('node:module');

if (!require.extensions['.ts']) {
  // lib/ imports its own files as `./x.js` (what its ESM build needs): a
  // relative `.js` that does not exist is its `.ts` source.
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function resolveTsSources(request, parent, ...rest) {
    try {
      return resolveFilename.call(this, request, parent, ...rest);
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND' || !/^\.\.?\/.*\.js$/.test(request)) throw err;
      return resolveFilename.call(this, request.replace(/\.js$/, '.ts'), parent, ...rest);
    }
  };
  require.extensions['.ts'] = function registerTs(module, filename) {
    if (filename.endsWith('.d.ts')) {
      module._compile('', filename);
      return;
    }
    const source = fs.readFileSync(filename, 'utf8');
    module._compile(compile(source, path.resolve(filename)), filename);
  };
  if (typeof process.setSourceMapsEnabled === 'function') process.setSourceMapsEnabled(true);
}

module.exports = { compile, compilerOptions };
