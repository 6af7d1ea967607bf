/**
 * Request streams over real sockets (PROTOCOL.md §5.9):
 * `client.send(pattern, observable$)` or an AsyncIterable streams the
 * request; the handler's payload is an Observable of the caller's values,
 * under the server's credit; with a streamed reply it is a bidirectional
 * channel; cancelling either side ends both, with teardown on both.
 */
import 'reflect-metadata';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  finalize,
  firstValueFrom,
  from,
  interval,
  lastValueFrom,
  map,
  Observable,
  reduce,
  take,
  throwError,
  toArray,
} from 'rxjs';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { deferred, Deferred, within } from '../helpers/async';

const SERVER_WINDOW = 8;
let serverTeardown: Deferred<string> = deferred<string>();
/** Calls of the `double` handler: a request can be cancelled while it waits for admission, and never run. */
let doubleStarted = 0;
/** Values the handler of 'count' has taken. */
let handlerTaken = 0;

@Controller()
class UploadController {
  @MessagePattern('sum')
  sum(@Payload() values: Observable<number>): Observable<number> {
    return values.pipe(reduce((a, b) => a + b, 0));
  }

  @MessagePattern('count')
  count(@Payload() values: Observable<number>): Observable<number> {
    handlerTaken = 0;
    return values.pipe(
      map(() => ++handlerTaken),
      reduce(n => n + 1, 0),
    );
  }

  @MessagePattern('double')
  double(@Payload() values: Observable<number>): Observable<number> {
    doubleStarted++;
    return values.pipe(
      map(v => v * 2),
      finalize(() => serverTeardown.resolve('double')),
    );
  }

  /** Takes three values and answers: the rest of the upload is not wanted. */
  @MessagePattern('first-three')
  firstThree(@Payload() values: Observable<number>): Observable<number[]> {
    return values.pipe(take(3), toArray());
  }

  @MessagePattern('plain')
  plain(@Payload() v: unknown): unknown {
    return { got: v };
  }
}

const h = new Harness();
let endpoint: string;
let client: ClientZmq;
let server: ServerZmq;

beforeAll(async () => {
  ({ endpoint, server } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [UploadController],
    options: { streamWindow: SERVER_WINDOW },
  }));
  client = await h.connectClient(endpoint, { requestTimeout: 20_000 });
});

afterAll(() => h.closeAll());

it('an Observable request: the handler gets an Observable of every value, in order', async () => {
  const n = 5_000;
  const sum = await within(
    firstValueFrom(client.send<number>('sum', from(Array.from({ length: n }, (_, i) => i + 1)))),
    15_000,
    'the sum',
  );
  expect(sum).toBe((n * (n + 1)) / 2);
});

it('an AsyncIterable request is pulled under the server credit: never more than its window ahead', async () => {
  let produced = 0;
  let worstLead = 0;
  let finished = false;
  async function* source(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < 2_000; i++) {
        worstLead = Math.max(worstLead, produced - handlerTaken);
        produced++;
        yield await Promise.resolve(i);
      }
    } finally {
      finished = true;
    }
  }
  const count = await within(firstValueFrom(client.send<number>('count', source())), 15_000, 'the count');
  expect(count).toBe(2_000);
  expect(worstLead).toBeLessThanOrEqual(SERVER_WINDOW);
  expect(finished).toBe(true);
});

it("the README's upload: a file's lines through readline (an AsyncIterable), counted by the handler", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zmq-upload-'));
  const path = join(dir, 'rows.txt');
  writeFileSync(path, Array.from({ length: 1_500 }, (_, i) => `row ${i}`).join('\n'));
  try {
    const input = createReadStream(path);
    const count = await within(
      firstValueFrom(client.send<number>('count', createInterface({ input, crlfDelay: Infinity }))),
      10_000,
      'the line count',
    );
    expect(count).toBe(1_500);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('bidirectional: a streamed request answered by a stream', async () => {
  const out = await within(
    lastValueFrom(client.send<number>('double', from([1, 2, 3, 4])).pipe(toArray())),
    10_000,
    'the doubled stream',
  );
  expect(out).toEqual([2, 4, 6, 8]);
});

it('the caller cancels a bidirectional channel: teardown runs on both sides', async () => {
  serverTeardown = deferred<string>();
  const clientTeardown = deferred();
  const upload = interval(5).pipe(finalize(() => clientTeardown.resolve()));
  const got = await within(
    firstValueFrom(client.send<number>('double', upload).pipe(take(3), toArray())),
    10_000,
    'three values',
  );
  expect(got).toEqual([0, 2, 4]);
  await within(clientTeardown.promise, 5_000, "the caller's source teardown");
  await expect(within(serverTeardown.promise, 5_000, "the handler's teardown")).resolves.toBe('double');
});

it('the handler ends first: the rest of the upload is stopped on the caller (its teardown runs)', async () => {
  const clientTeardown = deferred();
  const upload = interval(2).pipe(finalize(() => clientTeardown.resolve()));
  const first = await within(firstValueFrom(client.send<number[]>('first-three', upload)), 10_000, 'first three');
  expect(first).toEqual([0, 1, 2]);
  await within(clientTeardown.promise, 5_000, "the caller's source teardown");
});

it("the caller's source fails: the call fails with that error and the handler's stream is torn down (RS-5)", async () => {
  serverTeardown = deferred<string>();
  doubleStarted = 0;
  const upload = new Observable<number>(s => {
    s.next(1);
    setTimeout(() => s.error(new Error('source broke')), 20);
  });
  await expect(within(lastValueFrom(client.send('double', upload)), 10_000, 'the failure')).rejects.toThrow(
    'source broke',
  );
  // The CANCEL that follows the failure ends the call: torn down if it ran; on a starved machine the request can
  // still have been waiting for admission, and then it never runs.
  await within(
    (async () => {
      for (let i = 0; i < 1_000_000; i++) {
        const { inFlight, admission } = server.getStats();
        if (inFlight === 0 && admission!.waiting === 0) return;
        await new Promise(resolve => setImmediate(resolve));
      }
    })(),
    5_000,
    'the call to end on the server',
  );
  if (doubleStarted > 0) await within(serverTeardown.promise, 5_000, "the handler's teardown");
});

it('a server that takes no credit (streamWindow: 0): the caller fails with STREAM_UNSUPPORTED, plain calls work', async () => {
  const { endpoint: plainEndpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [UploadController],
    options: { streamWindow: 0 },
  });
  const other = await h.connectClient(plainEndpoint);
  await expect(firstValueFrom(other.send('sum', from([1, 2])))).rejects.toMatchObject({ code: 'STREAM_UNSUPPORTED' });
  // Plain requests still work there.
  await expect(firstValueFrom(other.send('plain', 5))).resolves.toEqual({ got: 5 });
});

it('a failing source before anything is sent is still a clean failure', async () => {
  await expect(
    within(
      firstValueFrom(
        client.send(
          'sum',
          throwError(() => new Error('nothing to send')),
        ),
      ),
      5_000,
      'failure',
    ),
  ).rejects.toThrow('nothing to send');
  await expect(firstValueFrom(client.send('plain', 1))).resolves.toEqual({ got: 1 });
});
