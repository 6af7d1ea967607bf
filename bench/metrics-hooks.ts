/**
 * The CPU time of the metrics hooks themselves, in one process: what a
 * request costs the client (start, first chunk, end) and the server (start,
 * end) with metrics on, less the same calls with metrics off. Run by
 * `npm run bench -- --metrics-cost`; deterministic enough to set beside the
 * end-to-end figures, which other load on the machine makes noisy.
 */
import { monotonicClock } from '../lib/protocol/clock';
import { Metered, Metrics } from '../lib/protocol/metrics';

const PATTERNS = ['echo', 'sum', '{"cmd":"count"}', 'stream'];

interface Call extends Metered {
  chunked: boolean;
}

/**
 * ns per request of `rounds` × PATTERNS.length calls through the hooks of
 * `metrics`, called as the engines call them: the client takes the times its
 * engine reads anyway (the call's tracker at the start, the reply's receive),
 * the server takes the REQUEST's receive time and reads the clock at the end.
 */
function perRequestNs(metrics: Metrics, client: boolean, rounds: number): number {
  const call: Call = { meter: undefined, started: 0, chunked: false };
  const received = monotonicClock.now();
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    for (const pattern of PATTERNS) {
      const outcome = i % 50 === 0 ? 'error' : 'ok';
      if (client) {
        metrics.start(call, pattern, received);
        metrics.firstReply(call, received);
        metrics.end(call, outcome, 'REMOTE_ERROR', received);
      } else {
        metrics.start(call, pattern, received);
        metrics.end(call, outcome, 'REMOTE_ERROR');
      }
    }
  }
  return Number(process.hrtime.bigint() - start) / (rounds * PATTERNS.length);
}

/** The hooks' cost per request, client and server, in ns (the best of a few runs, on less off). */
export function metricsHookCost(rounds = 250_000): { clientNs: number; serverNs: number } {
  const best = (client: boolean, enabled: boolean) => {
    const metrics = new Metrics(monotonicClock, enabled, client);
    let min = Infinity;
    for (let run = 0; run < 5; run++) min = Math.min(min, perRequestNs(metrics, client, rounds));
    return min;
  };
  return {
    clientNs: Math.max(0, best(true, true) - best(true, false)),
    serverNs: Math.max(0, best(false, true) - best(false, false)),
  };
}
