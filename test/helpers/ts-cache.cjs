'use strict';
/**
 * TypeScript to CommonJS/ES2022 per file (`ts.transpileModule`: no type
 * checking), with legacy decorators and decorator metadata as Nest needs, and
 * inline source maps. Kept in memory and on disk (see below). Used by the
 * require hook (ts-register.cjs), Jest's globalSetup that warms the disk cache
 * (ts-warm.cjs) and the benchmark's build.
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

module.exports = { compile, compilerOptions };
