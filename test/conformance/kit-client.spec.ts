/**
 * The conformance kit's client side judging ClientZmq: the checking server
 * welcomes it, it calls the three kit patterns, and every check passes.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { ClientZmq } from 'nestjs-zeromq';
import { KIT_PATTERNS, runClientConformance, type Verdict } from '../../lib/conformance';
import { deferred } from '../helpers/async';

let verdicts: Verdict[];
let output = '';
let values: { echo: unknown; stream: unknown[] };

beforeAll(async () => {
  const listening = deferred<string>();
  const run = runClientConformance({ bind: 'tcp://127.0.0.1:*', timeoutMs: 5_000, waitMs: 20_000 }, line => {
    output += line;
    const m = /^LISTENING (\S+)$/m.exec(line);
    if (m !== null) listening.resolve(m[1]!);
  });
  const client = new ClientZmq({ connect: await listening.promise, streamWindow: 4 });
  try {
    await client.connect();
    const hang = client.send(KIT_PATTERNS.hang, 1).subscribe({ error: () => undefined });
    const echo = await lastValueFrom(client.send(KIT_PATTERNS.echo, { a: [1, 'x'] }));
    const stream = await lastValueFrom(client.send<number>(KIT_PATTERNS.stream, 10).pipe(toArray()));
    values = { echo, stream };
    hang.unsubscribe(); // the caller gives up: CANCEL
    verdicts = await run;
  } finally {
    await client.close();
  }
}, 60_000);

describe('conformance client against ClientZmq', () => {
  it('the kit served it: the echo and a stream of 10 over a window of 4', () => {
    expect(values).toEqual({ echo: { a: [1, 'x'] }, stream: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
  });

  it('fails and skips no check, and prints a summary', () => {
    expect(verdicts.filter(v => v.outcome !== 'PASS')).toEqual([]);
    expect(output).toMatch(/^conformance: \d+ passed, 0 failed, 0 skipped$/m);
  });

  it.each([
    ['[C-14] the HELLO fields', 'C-14'],
    ['[C-1] nothing before the WELCOME, only listed patterns', 'C-1'],
    ['[C-6] unique request ids', 'C-6'],
    ['[C-9] CANCEL when the caller gives up', 'C-9'],
    ['[C-11] DEADLINE only with deadline', 'C-11'],
    ['[C-12] DRAIN answered', 'C-12'],
    ['[C-13] STREAM only with credit', 'C-13'],
    ['[W-20] credit granted as values are taken', 'W-20'],
    ['[W-27] PONG', 'W-27'],
    ['[W-29] bye-ack', 'W-29'],
  ])('%s: PASS', (_title, id) => {
    const mine = verdicts.filter(v => v.id === id);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.map(v => v.outcome)).toEqual(mine.map(() => 'PASS'));
  });
});
