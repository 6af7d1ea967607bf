/**
 * The metrics on/off A/B of `npm run bench -- --metrics-cost`, run as two
 * processes (run.ts compiles and starts them):
 *
 *   node <build>/bench/metrics-ab.js server
 *     two Nest microservices over ServerZmq, `metrics: true` and
 *     `metrics: false`; prints `READY <endpoint on> <endpoint off>`, stops on
 *     a `stop` line on stdin.
 *   node <build>/bench/metrics-ab.js client <on> <off> <batches> <batch size>
 *     a ClientZmq for each (metrics on / off), then alternates batches of
 *     `batch size` echoes at 64 in flight between them (on-off, then off-on,
 *     ...), so that whatever else loads the machine falls on both alike;
 *     prints `RESULT {"on":[req/s...],"off":[req/s...]}`.
 *
 * Metrics and their absence share the processes, the JIT and the moment: the
 * paired ratio of each two neighbouring batches is what the report takes.
 */
import { exitAfter, saturate, smallPayload } from './common';
import { connectNestClient } from './nest-client';
import { startNestServer } from './nest-server';

const IN_FLIGHT = 64;

async function serve(): Promise<void> {
  const on = await startNestServer('zmq');
  const off = await startNestServer('zmq-nometrics');
  process.stdin.setEncoding('utf8');
  const stop = async () => {
    process.stdin.destroy();
    await Promise.all([on.close(), off.close()]);
    process.exit(0);
  };
  process.stdin.on('data', (text: string) => {
    if (text.includes('stop')) void stop();
  });
  process.stdin.on('end', () => void stop());
  process.stdout.write(`READY ${on.endpoint} ${off.endpoint}\n`);
}

async function measure(onEndpoint: string, offEndpoint: string, batches: number, size: number): Promise<void> {
  const on = await connectNestClient('zmq', onEndpoint);
  const off = await connectNestClient('zmq-nometrics', offEndpoint);
  // Warm both paths up (JIT, buffers) before anything counts.
  for (const driver of [on, off, on, off]) await saturate(driver, size, IN_FLIGHT, smallPayload);
  const result = { on: [] as number[], off: [] as number[] };
  for (let b = 0; b < batches; b++) {
    const order = b % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
    for (const side of order)
      result[side].push(await saturate(side === 'on' ? on : off, size, IN_FLIGHT, smallPayload));
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  await Promise.all([on.close(), off.close()]);
  process.exit(0);
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  exitAfter(600_000, `metrics-ab ${mode}`);
  if (mode === 'server') return serve();
  if (mode === 'client') return measure(args[0]!, args[1]!, Number(args[2]), Number(args[3]));
  throw new Error(`metrics-ab: unknown mode ${mode}`);
}

main().catch(err => {
  process.stderr.write(`metrics-ab failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
