/**
 * One of two servers vanishes silently, then comes back, with default
 * options: the client reaches both through the DNS name; 14 loops call the
 * idempotent `echo`, 2 the non-idempotent `record`. Two faults:
 * - partition: the server's port on the bridge goes down (no FIN, no RST,
 *   the kernel keeps the connections: only the heartbeats can tell);
 * - SIGSTOP: the process stops, its kernel still ACKs what the client sends.
 * The fault lasts until the client has given the server up (`peer:left`) and
 * completed more calls on the other; then it ends (link up, SIGCONT) until
 * the client uses the server again. One cycle in CI, ten with `SOAK=1`.
 *
 * Outcomes: no window of more than 250 ms without a completed call, no
 * idempotent call failed, every failed call has a typed code, no `record`
 * key ran twice.
 */
import { ZmqErrorCode } from 'nestjs-zeromq';
import { clusterDescribe, figures, GUARD_MS, Scenario, Server, SOAK, untyped } from './scenario';

const TYPED = new Set<string>(Object.values(ZmqErrorCode));
/** Calls each server answers before the fault, after the heal, and the client completes while the fault lasts. */
const WARM = 200;
const DURING = 1_000;
/** Partition/heal cycles: one in CI, ten with `SOAK=1`. */
const CYCLES = SOAK ? 10 : 1;

let s: Scenario | undefined;
afterEach(async () => {
  await s?.destroy();
  s = undefined;
});

/** How a fault starts and ends. */
const FAULTS: Record<string, { cut(sc: Scenario, b: Server): void; mend(sc: Scenario, b: Server): void }> = {
  partition: {
    cut: (sc, b) => sc.cluster.partition(b.node),
    mend: (sc, b) => sc.cluster.heal(b.node),
  },
  SIGSTOP: {
    cut: (_, b) => b.child.signal('SIGSTOP'),
    mend: (_, b) => b.child.signal('SIGCONT'),
  },
};

clusterDescribe('one of two servers vanishes silently', () => {
  it.each(Object.keys(FAULTS))(
    '%s: calls keep completing, no idempotent call fails, the server is used again after it returns',
    async name => {
      const fault = FAULTS[name]!;
      s = new Scenario();
      const dns = await s.dns();
      const [a, b] = await Promise.all([s.server('a'), s.server('b')]);
      await dns.set([a.address, b.address]);
      const client = await s.client({ id: 'loader', loops: 14, recordLoops: 2 });
      await Promise.all([client.served('a', WARM), client.served('b', WARM)]);

      await client.mark();
      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        fault.cut(s, b);
        await client.note(`cut ${cycle}`);
        await client.event('LEFT', 'b', cycle, GUARD_MS);
        await client.served('a', DURING);
        fault.mend(s, b);
        await client.note(`mend ${cycle}`);
        await client.event('JOINED', 'b', cycle + 1, GUARD_MS);
        await client.served('b', WARM);
      }
      const during = await client.report();
      // Only the heartbeats can tell: the fault is silent.
      const left = client.leftReasons('b');
      const end = await client.stop();

      const duplicates = s.duplicateRecords();
      figures(name, {
        ejected: client.count('EJECTED', 'b'),
        restored: client.count('RESTORED', 'b'),
        end,
        duplicates: duplicates.length,
      });

      expect({
        left,
        stalls: during.stalls,
        failedIdempotent: end.failedIdempotent,
        untyped: untyped(end.failedOther, TYPED),
        duplicates,
      }).toEqual({
        left: Array(CYCLES).fill('timeout'),
        stalls: [],
        failedIdempotent: {},
        untyped: [],
        duplicates: [],
      });
      expect(during.maxGapMs).toBeLessThanOrEqual(250);
    },
    SOAK ? 400_000 : 120_000,
  );
});
