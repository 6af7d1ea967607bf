/**
 * A closing server's DRAIN and BYE reach every client, idle or busy, in one
 * process or many, over tcp, ipc and inproc: each client
 * sees `peer:draining`, then `peer:left` with reason `bye` — never a
 * heartbeat `timeout`. Complements bye.spec.ts (one idle client each).
 *
 * The idle period is the scenario (a connection about a second without
 * traffic), not a synchronisation: every wait is on an event
 * or a line a child prints.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { ClientZmq, ZmqErrorCode, ZmqPeerEvent } from 'nestjs-zeromq';
import { within } from '../helpers/async';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';

const IDLE_MS = 1_500;
const GUARD_MS = 15_000;
const idle = () => new Promise(resolve => setTimeout(resolve, IDLE_MS));

@Controller()
class WorkController {
  @MessagePattern('work')
  work(@Payload() data: { n: number }): Promise<{ n: number }> {
    return new Promise(resolve => setTimeout(() => resolve({ n: data.n }), 2));
  }
}

const h = new Harness();
afterEach(() => h.closeAll());

/** What one client saw of its server: DRAIN first, then the reason it left. */
function watch(client: ClientZmq): { draining: Promise<ZmqPeerEvent>; left: Promise<ZmqPeerEvent> } {
  return {
    draining: within(new Promise(resolve => client.on('peer:draining', resolve)), GUARD_MS, 'peer:draining'),
    left: within(new Promise(resolve => client.on('peer:left', resolve)), GUARD_MS, 'peer:left'),
  };
}

/** A request loop until the server left (bounded in count); returns the codes of the requests that failed. */
async function busyLoop(client: ClientZmq, left: Promise<unknown>): Promise<string[]> {
  let gone = false;
  void left.then(() => (gone = true));
  const failed: string[] = [];
  for (let n = 0; !gone && n < 100_000; n++) {
    try {
      const r = await firstValueFrom(client.send<{ n: number }>('work', { n }));
      if (r.n !== n) failed.push(`wrong reply ${JSON.stringify(r)}`);
    } catch (err) {
      failed.push((err as { code?: string }).code ?? String(err));
    }
  }
  return failed;
}

/** A lost request is typed: the server left (PEER_LOST) or none was left to take it (NO_PEER). Never a timeout. */
const TYPED = new Set<string>([ZmqErrorCode.PEER_LOST, ZmqErrorCode.NO_PEER]);

describe('one process, three clients (two idle, one busy)', () => {
  it.each(TRANSPORTS)('%s: app.close() after an idle period: each sees DRAIN, then BYE', async kind => {
    const { app, endpoint } = await h.startServer({ bind: bindEndpoint(kind, h.dirs), controllers: [WorkController] });
    const clients = await Promise.all([0, 1, 2].map(() => h.connectClient(endpoint)));
    const seen = clients.map(watch);
    const busy = busyLoop(clients[2]!, seen[2]!.left);
    await idle();
    await app.close();
    for (const s of seen) {
      expect(await s.draining).toMatchObject({ direction: 'upstream' });
      expect(await s.left).toMatchObject({ reason: 'bye' });
    }
    const failed = await busy;
    expect(failed.filter(code => !TYPED.has(code))).toEqual([]);
  });
});

describe('many processes: a server child stopped by SIGTERM (shutdown hooks) after an idle period', () => {
  it.each(['tcp', 'ipc'] as const)(
    '%s: an idle and a busy client child and a client here all see DRAIN, then BYE',
    async kind => {
      const server = h.track(new TsChild('test/fixtures/scale-server.ts', [bindEndpoint(kind, h.dirs), 'srv', '5000']));
      const [, endpoint] = await server.line(/^READY (\S+)$/, 30_000);
      const idleChild = h.track(new TsChild('test/fixtures/watch-client.ts', [endpoint!, 'idle-child']));
      const busyChild = h.track(new TsChild('test/fixtures/watch-client.ts', [endpoint!, 'busy-child', 'busy']));
      await Promise.all([idleChild.line(/^READY$/, 30_000), busyChild.line(/^READY$/, 30_000)]);
      const here = watch(await h.connectClient(endpoint!));
      await idle();
      server.signal('SIGTERM');
      for (const child of [idleChild, busyChild]) {
        await child.line(/^DRAINING srv$/, GUARD_MS);
        await child.line(/^LEFT srv bye$/, GUARD_MS);
      }
      expect(await here.draining).toMatchObject({ peerId: 'srv' });
      expect(await here.left).toMatchObject({ peerId: 'srv', reason: 'bye' });
      expect(await server.exited).not.toEqual({ code: 1, signal: null });
      expect(busyChild.stdout.filter(l => l.startsWith('FAILED') && !/FAILED (PEER_LOST|NO_PEER)$/.test(l))).toEqual(
        [],
      );
    },
    40_000,
  );
});
