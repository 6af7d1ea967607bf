'use strict';
/**
 * Runs the sample's TypeScript straight from source:
 *
 *   node -r ./sample/register.cjs sample/math/src/main.ts
 *
 * - compiles each required .ts file on the fly (the repo's test/helpers/ts-register.cjs:
 *   CommonJS output, decorators with metadata, no type checking; `npm run typecheck` does that);
 * - resolves `nestjs-zeromq` to this repo's lib/index.ts (and `nestjs-zeromq/prometheus`
 *   to lib/prometheus/index.ts), so the apps import the
 *   transport exactly as an app that installed the package would. In your own
 *   app, `npm install nestjs-zeromq zeromq` makes this mapping unnecessary.
 */
const Module = require('node:module');
const path = require('node:path');

require('../test/helpers/ts-register.cjs');

const lib = path.join(__dirname, '..', 'lib');
/** The package's entry points (package.json "exports") and their sources. */
const SOURCES = {
  'nestjs-zeromq': path.join(lib, 'index.ts'),
  'nestjs-zeromq/prometheus': path.join(lib, 'prometheus', 'index.ts'),
  'nestjs-zeromq/terminus': path.join(lib, 'terminus.ts'),
};
const resolveFilename = Module._resolveFilename;

Module._resolveFilename = function resolveSampleImports(request, ...rest) {
  return resolveFilename.call(this, Object.hasOwn(SOURCES, request) ? SOURCES[request] : request, ...rest);
};
