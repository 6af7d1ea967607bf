/**
 * The README's reference tables stay complete: every option of the public
 * option interfaces is a row of its table, every error code and every
 * `on()` event is named, each read from the source that defines it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/child';
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';

const read = (file: string) => readFileSync(join(repoRoot(), file), 'utf8');

/** The property names of `interface <name> ... { ... }` in a source file (top-level members only). */
function membersOf(source: string, name: string): string[] {
  const start = source.indexOf(`export interface ${name} `);
  if (start < 0) throw new Error(`interface ${name} not found`);
  const body = source.slice(source.indexOf('{', start) + 1, source.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map(m => m[1]!);
}

/** The option names in the first column of the table under a README heading. */
function tableRows(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  const next = readme.indexOf('\n#', start + heading.length + 2);
  const section = readme.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `(\w+)` \|/gm)].map(m => m[1]!);
}

describe('README reference tables', () => {
  const options = () => read('lib/interfaces/zmq-options.interface.ts');

  it.each([
    ['ZmqCommonOptions', '### Both sides'],
    ['ZmqServerOptions', '### `ServerZmq`'],
    ['ZmqClientOptions', '### `ClientZmq`'],
  ])('every member of %s is a row under "%s"', (name, heading) => {
    const members = membersOf(options(), name);
    expect(members.length).toBeGreaterThan(2);
    expect(tableRows(read('README.md'), heading).sort()).toEqual([...members].sort());
  });

  it('names every error code', () => {
    const readme = read('README.md');
    const missing = Object.values(ZmqErrorCode).filter(code => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('names every event of on()', () => {
    const events = read('lib/interfaces/zmq-events.interface.ts');
    const body = events.slice(events.indexOf('export type ZmqEvents = {'));
    const names = [...body.slice(0, body.indexOf('\n};')).matchAll(/^ {2}'([\w:]+)':/gm)].map(m => m[1]!);
    expect(names.length).toBeGreaterThan(2);
    const readme = read('README.md');
    expect(names.filter(name => !readme.includes(`'${name}'`))).toEqual([]);
  });
});
