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
const fs = require('node:fs');
const path = require('node:path');
const { compile, compilerOptions } = require('./ts-cache.cjs');

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
