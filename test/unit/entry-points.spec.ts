/**
 * The main entry never loads an optional integration: walks the relative
 * imports from lib/index.ts (the files its build loads) and checks that none
 * imports @nestjs/terminus; nestjs-zeromq/terminus (lib/terminus.ts) does.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '../helpers/child';

/** Every lib file `entry` loads at run time (type-only imports left out), with the packages each imports. */
function closure(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue = [entry];
  while (queue.length > 0 && seen.size < 500) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    const specs = [
      ...source.matchAll(/^(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm),
    ].map(m => (m[1] ?? m[2])!);
    seen.set(
      file,
      specs.filter(s => !s.startsWith('.')),
    );
    for (const s of specs.filter(x => x.startsWith('.'))) queue.push(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  }
  return seen;
}

it('lib/index.ts loads no @nestjs/terminus; lib/terminus.ts does', () => {
  const lib = join(repoRoot(), 'lib');
  const main = closure(join(lib, 'index.ts'));
  expect(main.size).toBeGreaterThan(20);
  const offenders = [...main].filter(([, pkgs]) => pkgs.some(p => p.startsWith('@nestjs/terminus'))).map(([f]) => f);
  expect(offenders).toEqual([]);
  const terminus = closure(join(lib, 'terminus.ts'));
  expect([...terminus.values()].flat()).toContain('@nestjs/terminus');
});
