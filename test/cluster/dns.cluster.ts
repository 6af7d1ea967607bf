/**
 * Changes driven by the DNS answer alone, as a Kubernetes headless Service
 * gives them: the client connects to `tcp://svc.nzc.test:5555` and resolves
 * the name every 250 ms (`resolveInterval`; every other option is the
 * default); dnsmasq's answer changes as instances come and go.
 *
 * - Rolling restart: each of three servers in turn is replaced. The new
 *   instance (started beforehand, on a new address) joins the answer; once
 *   the client uses it, the old one leaves the answer and gets SIGTERM at the
 *   same moment (Nest's shutdown: drain, BYE, exit), as a rolling update does.
 * - Scale 1 → 5 → 1: four instances join the answer, the client uses each;
 *   then they leave the answer and get SIGTERM.
 *
 * 16 loops call the idempotent `echo` and 2 the non-idempotent `record`
 * throughout. Outcome: no call failed, no `record` key ran twice, and the
 * client ends on the servers of the final answer.
 */
import { clusterDescribe, figures, GUARD_MS, Scenario, Server } from './scenario';

const OPTIONS = { resolveInterval: 250 };
/** Calls a new instance answers before the next step (it is in use). */
const WARM = 100;
/** Calls completed on the final servers before the end. */
const AFTER = 500;

let s: Scenario | undefined;
afterEach(async () => {
  await s?.destroy();
  s = undefined;
});

/** Takes `old` out of the answer and stops it (SIGTERM), and waits until it exited and the client let it go. */
async function retire(sc: Scenario, client: Awaited<ReturnType<Scenario['client']>>, old: Server, answer: Server[]) {
  const dns = await sc.dns();
  const left = client.count('LEFT', old.id);
  await dns.set(answer.map(x => x.address));
  old.child.signal('SIGTERM');
  expect(await old.child.exited).toEqual({ code: 0, signal: null });
  await client.event('LEFT', old.id, left + 1, GUARD_MS);
}

clusterDescribe('changes driven by DNS', () => {
  it('a rolling restart of three servers fails no call', async () => {
    s = new Scenario();
    const dns = await s.dns();
    let live = await Promise.all(['a1', 'b1', 'c1'].map(id => s!.server(id)));
    await dns.set(live.map(x => x.address));
    const client = await s.client({ id: 'loader', loops: 16, recordLoops: 2, options: OPTIONS });
    await Promise.all(live.map(x => client.served(x.id, WARM)));

    // The new instances start while the old ones serve; each joins the answer in turn.
    const fresh = await Promise.all(['a2', 'b2', 'c2'].map(id => s!.server(id)));
    for (const [i, old] of [...live].entries()) {
      const next = fresh[i]!;
      live.push(next);
      await dns.set(live.map(x => x.address));
      await client.event('JOINED', next.id, 1, GUARD_MS);
      await client.served(next.id, WARM);
      live = live.filter(x => x !== old);
      await retire(s, client, old, live);
    }
    await client.mark();
    await client.more(AFTER);
    const after = await client.report();
    const end = await client.stop();
    const duplicates = s.duplicateRecords();
    figures('rolling-restart', { end, after: after.servedBy, duplicates: duplicates.length });

    expect({ failed: end.totalFailed, duplicates }).toEqual({ failed: 0, duplicates: [] });
    expect(Object.keys(after.servedBy).sort()).toEqual(['a2', 'b2', 'c2']);
  });

  it('scaling 1 → 5 → 1 under load fails no call', async () => {
    s = new Scenario();
    const dns = await s.dns();
    const first = await s.server('s1');
    await dns.set([first.address]);
    const client = await s.client({ id: 'loader', loops: 16, recordLoops: 2, options: OPTIONS });
    await client.served('s1', WARM);

    const added = await Promise.all(['s2', 's3', 's4', 's5'].map(id => s!.server(id)));
    await dns.set([first, ...added].map(x => x.address));
    await Promise.all(added.map(x => client.event('JOINED', x.id, 1, GUARD_MS).then(() => client.served(x.id, WARM))));

    const left = added.map(x => client.count('LEFT', x.id));
    await dns.set([first.address]);
    for (const x of added) x.child.signal('SIGTERM');
    for (const x of added) expect(await x.child.exited).toEqual({ code: 0, signal: null });
    await Promise.all(added.map((x, i) => client.event('LEFT', x.id, left[i]! + 1, GUARD_MS)));

    await client.mark();
    await client.more(AFTER);
    const after = await client.report();
    const end = await client.stop();
    const duplicates = s.duplicateRecords();
    figures('scale-1-5-1', { end, after: after.servedBy, duplicates: duplicates.length });

    expect({ failed: end.totalFailed, duplicates }).toEqual({ failed: 0, duplicates: [] });
    expect(Object.keys(after.servedBy)).toEqual(['s1']);
  });
});
