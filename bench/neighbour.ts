/**
 * `--neighbour`'s CPU-bound process: `node <build>/bench/neighbour.js <lifetime ms>`.
 *
 * Keeps one core busy with arithmetic in slices of about 20 ms (a macrotask
 * between them, so a signal or stdin's end is handled), as another job on
 * the same machine would. It exits when its stdin closes (the runner ends),
 * when killed, or after `lifetime ms` at the latest.
 */
import { exitAfter } from './common';

const SLICE_MS = 20;

function spin(until: number): number {
  let x = 0;
  while (Date.now() < until) {
    for (let i = 0; i < 10_000; i++) x = (x * 31 + i) % 1_000_003;
  }
  return x;
}

function main(): void {
  exitAfter(Number(process.argv[2] ?? 600_000), 'bench neighbour');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  let sink = 0;
  const slice = () => {
    sink ^= spin(Date.now() + SLICE_MS);
    setImmediate(slice);
  };
  slice();
  process.on('exit', () => sink);
}

main();
