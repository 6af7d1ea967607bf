/**
 * Flow-control benchmark client: `node <build>/bench/flow-client.js <endpoint> <mode> <n> [size] [seconds]`.
 *
 * - `slow`: reads `gen` (n items of `size` bytes) taking 1,000 items/s (a
 *   subscriber that spends 1 ms on each) for `seconds`, then unsubscribes;
 * - `stream`: reads `gen` of n numbers as fast as it can, checking the order;
 * - `upload`: streams n numbers (an async generator) to `upload` and checks the count.
 * Prints one `RESULT <json>` line ({ items, seconds, itemsPerSec, peakRss }) and exits; a wrong answer exits 1.
 */
import { ClientZmq } from '../lib';
import { exitAfter, peakRss } from './common';

const [endpoint = '', mode = 'stream', nArg = '1000', sizeArg = '0', secondsArg = '1'] = process.argv.slice(2);
const n = Number(nArg);

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a slow consumer: this subscriber takes 1 ms per item
  }
}

function read(client: ClientZmq, slowFor: number | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const started = performance.now();
    const sub = client.send<number | string>('gen', { n, size: Number(sizeArg) }).subscribe({
      next: v => {
        const i = typeof v === 'number' ? v : Number.parseInt(v, 10);
        if (i !== got) reject(new Error(`item ${i} came ${got}-th`));
        got++;
        if (slowFor === undefined) return;
        busy(1);
        if (performance.now() - started >= slowFor) {
          queueMicrotask(() => sub.unsubscribe());
          resolve(got);
        }
      },
      error: reject,
      complete: () => (got === n ? resolve(got) : reject(new Error(`completed after ${got} of ${n}`))),
    });
  });
}

async function* numbers(): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield await Promise.resolve(i);
}

async function main(): Promise<void> {
  exitAfter(600_000, `flow client ${mode}`);
  const client = new ClientZmq({ connect: endpoint, requestTimeout: 120_000 });
  await client.connect();
  const started = performance.now();
  let items: number;
  if (mode === 'upload') {
    const counted = await new Promise<number>((resolve, reject) =>
      client.send<number>('upload', numbers()).subscribe({ next: resolve, error: reject }),
    );
    if (counted !== n) throw new Error(`the server counted ${counted} of ${n}`);
    items = n;
  } else {
    items = await read(client, mode === 'slow' ? Number(secondsArg) * 1000 : undefined);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `RESULT ${JSON.stringify({ items, seconds, itemsPerSec: items / seconds, peakRss: peakRss() })}\n`,
  );
  await client.close();
  process.exit(0);
}

main().catch(err => {
  process.stderr.write(`flow client failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
