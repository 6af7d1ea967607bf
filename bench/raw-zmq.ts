/**
 * The raw zeromq.js contender: a ROUTER echo server and a DEALER client with
 * a JSON envelope per message and no Nest, one message per `send()` — what a
 * thin wrapper over zeromq.js does.
 */
import { Dealer, Router } from 'zeromq';
import { pumpItems } from './common';

/** Wire format of this contender: one JSON object per message. */
interface RawRequest {
  id: number;
  pattern: 'echo' | 'stream';
  data: unknown;
}

/** A reply message: a value (`data`), the end of the reply (`end`), or both. */
interface RawReply {
  id: number;
  data?: unknown;
  end?: true;
}

const HWM = 10_000;

/**
 * zeromq.js allows one `send()` at a time per socket; this queues messages
 * and sends them one by one.
 */
class SerialSender {
  private readonly queue: Array<Array<Buffer | string>> = [];
  private sending = false;

  constructor(
    private readonly socket: Router | Dealer,
    private readonly onError: (err: unknown) => void,
  ) {}

  send(frames: Array<Buffer | string>): void {
    this.queue.push(frames);
    if (!this.sending) void this.drain();
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      for (let frames = this.queue.shift(); frames !== undefined; frames = this.queue.shift()) {
        await this.socket.send(frames);
      }
    } catch (err) {
      if (!this.socket.closed) this.onError(err);
    } finally {
      this.sending = false;
    }
  }
}

export interface RawServer {
  endpoint: string;
  close(): void;
}

export async function startRawServer(): Promise<RawServer> {
  const router = new Router({ mandatory: true, sendHighWaterMark: HWM, receiveHighWaterMark: HWM, linger: 0 });
  await router.bind('tcp://127.0.0.1:*');
  const fail = (err: unknown) => {
    process.stderr.write(`raw server: ${String(err)}\n`);
    process.exitCode = 1;
  };
  const sender = new SerialSender(router, fail);
  void (async () => {
    try {
      for await (const [routingId, message] of router) {
        const request = JSON.parse(message!.toString('utf8')) as RawRequest;
        const reply = (body: RawReply) => sender.send([routingId!, JSON.stringify(body)]);
        if (request.pattern === 'echo') {
          reply({ id: request.id, data: request.data, end: true });
        } else {
          pumpItems(
            request.data as number,
            i => reply({ id: request.id, data: i }),
            () => reply({ id: request.id, end: true }),
          );
        }
      }
    } catch (err) {
      if (!router.closed) fail(err);
    }
  })();
  return { endpoint: router.lastEndpoint!, close: () => router.close() };
}

interface Pending {
  onItem: (value: unknown) => void;
  onEnd: () => void;
}

/** A DEALER client with the same shape as the Nest clients' calls. */
export class RawClient {
  private readonly dealer = new Dealer({ sendHighWaterMark: HWM, receiveHighWaterMark: HWM, linger: 0 });
  private readonly sender: SerialSender;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: unknown;

  constructor(endpoint: string) {
    this.sender = new SerialSender(this.dealer, err => this.fail(err));
    this.dealer.connect(endpoint);
    void this.receive();
  }

  call(data: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let value: unknown;
      this.start('echo', data, { onItem: v => (value = v), onEnd: () => resolve(value) }, reject);
    });
  }

  stream(n: number, onItem: (value: unknown) => void): Promise<void> {
    return new Promise((resolve, reject) => this.start('stream', n, { onItem, onEnd: resolve }, reject));
  }

  close(): void {
    this.dealer.close();
  }

  private start(pattern: RawRequest['pattern'], data: unknown, pending: Pending, reject: (err: unknown) => void): void {
    if (this.failure !== undefined) {
      reject(this.failure);
      return;
    }
    const id = this.nextId++;
    this.pending.set(id, {
      onItem: pending.onItem,
      onEnd: () => {
        this.pending.delete(id);
        pending.onEnd();
      },
    });
    this.sender.send([JSON.stringify({ id, pattern, data } satisfies RawRequest)]);
  }

  private async receive(): Promise<void> {
    try {
      for await (const [message] of this.dealer) {
        const reply = JSON.parse(message!.toString('utf8')) as RawReply;
        const pending = this.pending.get(reply.id);
        if (pending === undefined) throw new Error(`reply for unknown id ${reply.id}`);
        if ('data' in reply) pending.onItem(reply.data);
        if (reply.end) pending.onEnd();
      }
    } catch (err) {
      if (!this.dealer.closed) this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.failure = err;
    process.stderr.write(`raw client: ${String(err)}\n`);
    process.exitCode = 1;
  }
}
