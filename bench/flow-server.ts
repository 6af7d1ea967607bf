/**
 * Flow-control benchmark server: `node <build>/bench/flow-server.js [lifetime ms]` (run.ts compiles it).
 *
 * A ServerZmq (no Nest module: handlers added directly) with `gen` {n, size}
 * (an async generator, pulled under credit: items of `size` bytes, or the
 * numbers 0..n-1 when size is 0) and `upload` (counts a request stream).
 * Prints `READY <endpoint>`; on a `stop` line on stdin prints `RSS <peak
 * bytes>`, closes and exits.
 */
import { count, Observable } from 'rxjs';
import { ServerZmq } from '../lib';
import { exitAfter, peakRss } from './common';

async function* items(n: number, size: number): AsyncGenerator<string | number> {
  const pad = size > 0 ? 'x'.repeat(size) : '';
  for (let i = 0; i < n; i++) yield await Promise.resolve(size > 0 ? `${i} ${pad}` : i);
}

async function main(): Promise<void> {
  exitAfter(Number(process.argv[2] ?? 600_000), 'flow server');
  const server = new ServerZmq({ bind: 'tcp://127.0.0.1:*' });
  server.addHandler('gen', (p: { n: number; size: number }) => Promise.resolve(items(p.n, p.size)), false);
  server.addHandler('upload', (values: Observable<unknown>) => Promise.resolve(values.pipe(count())), false);
  await new Promise<void>((resolve, reject) => server.listen(err => (err ? reject(err as Error) : resolve())));
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    if (!text.includes('stop')) return;
    process.stdout.write(`RSS ${peakRss()}\n`);
    process.stdin.destroy();
    void server.close().then(() => process.exit(0));
  });
  process.stdout.write(`READY ${server.endpoints[0]}\n`);
}

main().catch(err => {
  process.stderr.write(`flow server failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
