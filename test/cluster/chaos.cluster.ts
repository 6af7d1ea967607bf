/**
 * kill -9 chaos: three servers behind the DNS name, 16 loops calling the
 * idempotent `echo`, 2 calling the non-idempotent `record`. Round after
 * round one server (in turn) is killed with SIGKILL — the kernel closes its
 * sockets, the client sees the disconnect — and started again on the same
 * address; the round ends when the client uses it again.
 *
 * CI runs 3 rounds (each server once); `SOAK=1` runs rounds for 120 s (at most 500).
 * Outcomes: no idempotent call failed, every failed `record` has a typed
 * code, no `record` key ran twice.
 */
import { ZmqErrorCode } from 'nestjs-zeromq';
import { clusterDescribe, figures, GUARD_MS, Scenario, SOAK, untyped } from './scenario';

const TYPED = new Set<string>(Object.values(ZmqErrorCode));
const ROUNDS = SOAK ? 500 : 3;
const SOAK_MS = 120_000;
/** Calls a restarted server answers before the next round. */
const WARM = 100;

let s: Scenario | undefined;
afterEach(async () => {
  await s?.destroy();
  s = undefined;
});

clusterDescribe('kill -9 chaos with idempotent calls', () => {
  it(
    `fails no idempotent call across ${SOAK ? `${SOAK_MS / 1000} s of` : ROUNDS} kills`,
    async () => {
      s = new Scenario();
      const dns = await s.dns();
      const ids = ['a', 'b', 'c'];
      await Promise.all(ids.map(id => s!.server(id)));
      await dns.set([...s.servers.values()].map(x => x.address));
      const client = await s.client({ id: 'loader', loops: 16, recordLoops: 2 });
      await Promise.all(ids.map(id => client.served(id, WARM)));

      const started = Date.now();
      let kills = 0;
      for (let round = 0; round < ROUNDS; round++) {
        if (SOAK && Date.now() - started > SOAK_MS) break;
        const id = ids[round % ids.length]!;
        const victim = s.servers.get(id)!;
        const leftBefore = client.count('LEFT', id);
        victim.child.signal('SIGKILL');
        await victim.child.exited;
        kills++;
        await client.event('LEFT', id, leftBefore + 1, GUARD_MS);
        const joined = client.count('JOINED', id);
        await s.server(id, victim.node);
        await client.event('JOINED', id, joined + 1, GUARD_MS);
        await client.served(id, WARM);
      }
      // The kernel closes a killed process's connections: the client sees it at once.
      const left = ids.flatMap(id => client.leftReasons(id)).filter(r => r !== 'disconnect');
      const end = await client.stop();
      const duplicates = s.duplicateRecords();
      figures('chaos', { kills, end, duplicates: duplicates.length });

      expect({
        left,
        failedIdempotent: end.failedIdempotent,
        untyped: untyped(end.failedOther, TYPED),
        duplicates,
      }).toEqual({ left: [], failedIdempotent: {}, untyped: [], duplicates: [] });
      expect(end.ok).toBeGreaterThan(0);
    },
    SOAK ? 400_000 : 120_000,
  );
});
