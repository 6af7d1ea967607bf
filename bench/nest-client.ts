/**
 * The Nest side of the benchmark client: the same `client.send()` calls over
 * Nest's TCP transport or over ClientZmq.
 */
import 'reflect-metadata';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { ClientZmq } from '../lib';
import type { Driver } from './client';
import { benchCurveKeys, NestFlavour } from './common';

function nestDriver(client: ClientProxy): Driver {
  return {
    call: data => firstValueFrom(client.send('echo', data)),
    stream: (n, onItem) =>
      new Promise((resolve, reject) => {
        client.send('stream', n).subscribe({ next: onItem, error: reject, complete: resolve });
      }),
    serverAllocated: () => firstValueFrom(client.send<number>('bench:alloc', 0)),
    // ClientProxy.close() is typed `any` (void for Nest TCP, a Promise for ClientZmq).
    close: async () => {
      await client.close();
    },
  };
}

/** A Nest client over Nest's TCP transport or over ClientZmq, connected. */
export async function connectNestClient(transport: NestFlavour, endpoint: string): Promise<Driver> {
  let client: ClientProxy;
  if (transport === 'tcp' || transport === 'tcp-interceptor') {
    const [host, port] = endpoint.split(':');
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: host!, port: Number(port) } });
  } else {
    const keys = transport === 'zmq-curve' ? benchCurveKeys() : undefined;
    client = new ClientZmq({
      connect: endpoint,
      codec: transport === 'zmq-msgpack' ? 'msgpack' : 'json',
      metrics: transport !== 'zmq-nometrics',
      ...(keys !== undefined ? { curve: { serverKey: keys.server.publicKey, ...keys.client } } : {}),
    });
  }
  await client.connect();
  return nestDriver(client);
}
