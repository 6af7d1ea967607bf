import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { ClientZmq, ZmqPeerEvent, ZmqPeerInfo } from 'nestjs-zeromq';
import { MATH_SERVICE, NOTIFICATIONS_SERVICE } from '../../shared/src';

export interface PeerChange {
  client: string;
  type: 'joined' | 'left';
  peerId: string;
  endpoint?: string;
  reason?: string;
}

export type ConnectedPeer = Pick<ZmqPeerInfo, 'peerId' | 'endpoint' | 'metadata' | 'patterns'>;

const KEEP = 20;

/**
 * Logs the services joining and leaving each client, keeps the latest
 * changes for GET /peers, and connects the clients at startup (instead of at
 * the first request) so the joins show up in the log right away.
 */
@Injectable()
export class PeerLog implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger('Peers');
  private readonly changes: PeerChange[] = [];
  private readonly clients: ReadonlyArray<readonly [string, ClientZmq]>;

  constructor(@Inject(MATH_SERVICE) math: ClientZmq, @Inject(NOTIFICATIONS_SERVICE) notifications: ClientZmq) {
    this.clients = [
      ['math', math],
      ['notifications', notifications],
    ];
  }

  onModuleInit(): void {
    for (const [name, client] of this.clients) {
      client.on('peer:joined', e => this.record(name, 'joined', e));
      client.on('peer:left', e => this.record(name, 'left', e));
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    await Promise.all(
      this.clients.map(([name, client]) =>
        client.connect().catch((err: Error) => this.logger.warn(`${name} client: ${err.message}`)),
      ),
    );
  }

  /** The services each client is connected to now (from `client.getPeers()`), and the latest joins and leaves. */
  snapshot(): { connected: Record<string, ConnectedPeer[]>; changes: PeerChange[] } {
    const connected: Record<string, ConnectedPeer[]> = {};
    for (const [name, client] of this.clients) {
      connected[name] = client
        .getPeers()
        .map(({ peerId, endpoint, metadata, patterns }) => ({ peerId, endpoint, metadata, patterns }));
    }
    return { connected, changes: [...this.changes] };
  }

  private record(client: string, type: PeerChange['type'], e: ZmqPeerEvent): void {
    const change: PeerChange = { client, type, peerId: e.peerId, endpoint: e.endpoint, reason: e.reason };
    this.changes.push(change);
    if (this.changes.length > KEEP) this.changes.shift();
    const reason = e.reason === undefined ? '' : `, reason: ${e.reason}`;
    if (type === 'joined') this.logger.log(`peer joined: ${e.peerId} (${e.endpoint})`);
    else this.logger.warn(`peer left: ${e.peerId} (${e.endpoint})${reason}`);
  }
}
