/**
 * A synchronous burst is delivered whole, in order, under credit:
 * `from(array)` of 300,000 small numbers (and of 1,000,000 under SOAK=1). The
 * server sends it in slices and yields between them, so it keeps answering
 * heartbeats (the caller, with a short heartbeat, never declares it dead)
 * and other callers (an echo sent once the burst is flowing is answered
 * before the burst ends).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, from, Observable } from 'rxjs';
import { ClientZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { within } from '../helpers/async';
import { SOAK } from '../helpers/soak';

@Controller()
class BurstController {
  @MessagePattern('burst')
  burst(@Payload() n: number): Observable<number> {
    return from(Array.from({ length: n }, (_, i) => i));
  }

  @MessagePattern('echo')
  echo(@Payload() v: unknown): unknown {
    return v;
  }
}

const h = new Harness();
let endpoint: string;
let caller: ClientZmq;
let other: ClientZmq;
const left: string[] = [];

beforeAll(async () => {
  ({ endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [BurstController] }));
  // A short heartbeat: a server whose event loop stalled for 1.2 s would be declared dead.
  caller = await h.connectClient(endpoint, { heartbeatInterval: 300, heartbeatLiveness: 4, requestTimeout: 60_000 });
  caller.on('peer:left', e => left.push(`${e.peerId}:${e.reason ?? ''}`));
  other = await h.connectClient(endpoint);
});

afterAll(() => h.closeAll());

it.each(SOAK ? [300_000, 1_000_000] : [300_000])(
  'from(array of %i) arrives whole and in order; heartbeats and other callers are served meanwhile',
  async n => {
    let count = 0;
    let inOrder = true;
    let echoed: Promise<unknown> | undefined;
    let echoBeforeEnd = false;
    await within(
      new Promise<void>((resolve, reject) =>
        caller.send<number>('burst', n).subscribe({
          next: v => {
            if (v !== count) inOrder = false;
            count++;
            if (count === 1_000) {
              echoed = firstValueFrom(other.send('echo', 'meanwhile')).then(r => {
                echoBeforeEnd = count < n;
                return r;
              });
            }
          },
          error: reject,
          complete: resolve,
        }),
      ),
      60_000,
      `the ${n}-value burst`,
    );
    expect(count).toBe(n);
    expect(inOrder).toBe(true);
    await expect(echoed).resolves.toBe('meanwhile');
    expect(echoBeforeEnd).toBe(true);
    expect(left).toEqual([]);
  },
);
