/**
 * Benchmark server process: `node <build>/bench/server.js <contender> [lifetime ms]` (run.ts compiles it).
 *
 * Prints `READY <endpoint>` once it serves. On a `gc` line on stdin it prints
 * `GC <json>`, its garbage collections so far (bench/usage.ts). On a `stop`
 * line (or stdin closing) it prints `RSS <peak bytes>`, closes and exits on
 * its own.
 */
import { Contender, exitAfter, flavourOf, isContender, peakRss } from './common';
import { GcCounter } from './usage';

export interface BenchServer {
  endpoint: string;
  close(): Promise<void> | void;
}

/** Loads only what the contender needs, so the raw server's RSS holds no Nest. */
async function start(contender: Contender): Promise<BenchServer> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  if (contender === 'raw-zmq') return (require('./raw-zmq') as typeof import('./raw-zmq')).startRawServer();
  if (contender === 'nest-grpc') return (require('./grpc') as typeof import('./grpc')).startGrpcServer();
  const nest = require('./nest-server') as typeof import('./nest-server');
  return nest.startNestServer(flavourOf(contender));
}

async function main(): Promise<void> {
  const contender = process.argv[2];
  if (!isContender(contender)) throw new Error(`unknown contender ${contender}`);
  exitAfter(Number(process.argv[3] ?? 600_000), `bench server ${contender}`);
  const gc = new GcCounter();
  const server = await start(contender);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`RSS ${peakRss()}\n`);
    process.stdin.destroy();
    await server.close();
    process.exit(process.exitCode ?? 0);
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    if (text.includes('gc')) process.stdout.write(`GC ${JSON.stringify(gc.read())}\n`);
    if (text.includes('stop')) void stop();
  });
  process.stdin.on('end', () => void stop());
  process.stdout.write(`READY ${server.endpoint}\n`);
}

main().catch(err => {
  process.stderr.write(`bench server failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
