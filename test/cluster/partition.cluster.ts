/**
 * A silent partition of one of two servers, then its heal, with default
 * options: the client reaches both through the DNS name; 14 loops call the
 * idempotent `echo`, 2 the non-idempotent `record`. The lost server's port on
 * the bridge goes down (no FIN, no RST: only the heartbeats can tell), stays
 * down until the client has given it up (`peer:left`) and served more calls
 * from the other, and comes back up until the client uses it again.
 *
 * Outcomes: no window of more than 250 ms without a completed call, no
 * idempotent call failed, every failed call has a typed code, no `record`
 * key ran twice.
 */
import { ZmqErrorCode } from 'nestjs-zeromq';
import { clusterDescribe, figures, GUARD_MS, Scenario, untyped } from './scenario';

const TYPED = new Set<string>(Object.values(ZmqErrorCode));
/** Calls each server answers before the fault, after the heal, and the client completes while the fault lasts. */
const WARM = 200;
const DURING = 1_000;

let s: Scenario | undefined;
afterEach(async () => {
  await s?.destroy();
  s = undefined;
});

clusterDescribe('silent partition of one of two servers', () => {
  it('keeps completing calls, fails no idempotent call, and takes the server back after the heal', async () => {
    s = new Scenario();
    const dns = await s.dns();
    const [a, b] = await Promise.all([s.server('a'), s.server('b')]);
    await dns.set([a.address, b.address]);
    const client = await s.client({ id: 'loader', loops: 14, recordLoops: 2 });
    await Promise.all([client.served('a', WARM), client.served('b', WARM)]);

    await client.mark();
    s.cluster.partition(b.node);
    await client.event('LEFT', 'b', 1, GUARD_MS);
    await client.served('a', DURING);
    s.cluster.heal(b.node);
    await client.event('JOINED', 'b', 2, GUARD_MS);
    await client.served('b', WARM);
    const during = await client.report();
    const end = await client.stop();

    const duplicates = s.duplicateRecords();
    figures('partition', { during, end, duplicates: duplicates.length });

    expect({
      stalls: during.stalls,
      failedIdempotent: end.failedIdempotent,
      untyped: untyped(end.failedOther, TYPED),
      duplicates,
    }).toEqual({ stalls: [], failedIdempotent: {}, untyped: [], duplicates: [] });
    expect(during.maxGapMs).toBeLessThanOrEqual(250);
  });
});
