'use strict';
/**
 * Jest's globalSetup: transpiles lib/ and test/fixtures/ into ts-cache.cjs's
 * disk cache once, in this one process, before any spec starts a TypeScript
 * child. Without it, on a cold cache, the first children of parallel specs
 * each load TypeScript and transpile the same files (seconds of CPU each).
 * Files already cached are only hashed. A failure here only leaves the cache
 * cold: the children then transpile what they load, as they otherwise would.
 */
const fs = require('node:fs');
const path = require('node:path');

/** Every .ts file (no .d.ts, no spec) under `dir`, at most `limit` of them. */
function tsFiles(dir, limit = 2_000) {
  const out = [];
  const pending = [dir];
  while (pending.length > 0 && out.length < limit) {
    const current = pending.pop();
    let entries;
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const full = path.join(current, e.name);
      if (e.isDirectory()) pending.push(full);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.spec.ts')) out.push(full);
    }
  }
  return out;
}

module.exports = function warmTsCache(globalConfig) {
  const root = globalConfig?.rootDir ?? path.resolve(__dirname, '../..');
  try {
    const { compile } = require('./ts-cache.cjs');
    for (const dir of ['lib', 'test/fixtures', 'test/helpers']) {
      for (const file of tsFiles(path.join(root, dir))) compile(fs.readFileSync(file, 'utf8'), path.resolve(file));
    }
  } catch {
    // a cold cache then
  }
};
