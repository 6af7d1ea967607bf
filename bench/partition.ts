/**
 * `npm run bench -- --partition [--quick]`: what a silent partition of one
 * of two servers costs a client, for each routing strategy, in the simulated
 * cluster of test/cluster/ (network namespaces on a bridge and a DNS server:
 * needs root, `ip` and `dnsmasq`, as CI has).
 *
 * Per strategy, a fresh cluster: two servers behind one DNS name, a client
 * with 14 loops of the idempotent `echo` and 2 of the non-idempotent
 * `record`, with default options but `strategy`. Once each server answered
 * 200 calls, the second server's link goes down (no FIN, no RST: only
 * heartbeats can tell) until the client gave it up (`peer:left`) and the
 * first server answered 1,000 more; then the link comes back until the second
 * server answered 200 again. Figures of that window: the longest time
 * without a completed call, the windows over 250 ms, completed and failed
 * calls by code, the longest single call, and when the client gave the
 * server up after the cut. Nest TCP has no client for two servers, so no
 * contender runs beside it. The report goes to stdout and
 * .bench-results/partition-latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clusterUnavailable } from '../test/cluster/net';
import { GUARD_MS, Report, Scenario } from '../test/cluster/scenario';

const STRATEGIES = ['least-pending', 'round-robin'] as const;
const WARM = 200;
const DURING = 1_000;
const ROOT = resolve(__dirname, '..');

interface PartitionResult {
  strategy: string;
  /** ms from the cut to the client's `peer:left` for the cut server. */
  detectMs: number | undefined;
  maxGapMs: number;
  stalls: number;
  ok: number;
  failedIdempotent: Record<string, number>;
  failedOther: Record<string, number>;
  maxCallMs: number;
}

/** Offset of the first note in `notes` whose text starts with `prefix`. */
function noteAt(report: Report, prefix: string): number | undefined {
  return report.notes.find(([, text]) => text.startsWith(prefix))?.[0];
}

async function one(strategy: string, cycles: number): Promise<PartitionResult> {
  const s = new Scenario();
  try {
    const dns = await s.dns();
    const [a, b] = await Promise.all([s.server('a'), s.server('b')]);
    await dns.set([a.address, b.address]);
    const client = await s.client({ id: 'loader', loops: 14, recordLoops: 2, options: { strategy } });
    await Promise.all([client.served('a', WARM), client.served('b', WARM)]);
    await client.mark();
    for (let cycle = 1; cycle <= cycles; cycle++) {
      s.cluster.partition(b.node);
      await client.note(`cut ${cycle}`);
      await client.event('LEFT', 'b', cycle, GUARD_MS);
      await client.served('a', DURING);
      s.cluster.heal(b.node);
      await client.note(`mend ${cycle}`);
      await client.event('JOINED', 'b', cycle + 1, GUARD_MS);
      await client.served('b', WARM);
    }
    const window = await client.report();
    await client.stop();
    const cut = noteAt(window, 'cut 1');
    const left = window.notes.find(([at, text]) => cut !== undefined && at >= cut && /^LEFT b\b/.test(text))?.[0];
    return {
      strategy,
      detectMs: cut !== undefined && left !== undefined ? Math.round(left - cut) : undefined,
      maxGapMs: Math.round(window.maxGapMs),
      stalls: window.stalls.length,
      ok: window.ok,
      failedIdempotent: window.failedIdempotent,
      failedOther: window.failedOther,
      maxCallMs: Math.round(window.maxCallMs),
    };
  } finally {
    await s.destroy();
  }
}

const codes = (m: Record<string, number>) =>
  Object.keys(m).length === 0
    ? '0'
    : Object.entries(m)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ');

/** Runs the partition for each strategy and returns the report; `undefined` (and why, on stderr) without a cluster. */
export async function runPartition(quick: boolean): Promise<string | undefined> {
  const reason = clusterUnavailable();
  if (reason !== undefined) {
    process.stderr.write(`bench --partition: the cluster cannot be made here: ${reason}\n`);
    return undefined;
  }
  const cycles = quick ? 1 : 3;
  const results: PartitionResult[] = [];
  for (const strategy of STRATEGIES) results.push(await one(strategy, cycles));
  const lines = [
    `Silent partition of one of two servers, ${cycles} cut/heal cycle(s), 16 loops (14 idempotent, 2 not):`,
    '',
    '| strategy | gave the server up after | longest gap | gaps > 250 ms | calls ok | failed idempotent | failed other | longest call |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map(
      r =>
        `| ${r.strategy} | ${r.detectMs ?? '?'} ms | ${r.maxGapMs} ms | ${r.stalls} | ${r.ok} | ` +
        `${codes(r.failedIdempotent)} | ${codes(r.failedOther)} | ${r.maxCallMs} ms |`,
    ),
  ];
  const dir = join(ROOT, '.bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'partition-latest.json'),
    JSON.stringify({ date: new Date().toISOString(), cycles, results }, null, 2),
  );
  return lines.join('\n');
}
