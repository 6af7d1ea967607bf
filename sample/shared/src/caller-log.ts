import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ZmqPeerChange, ZmqPeerEvents } from 'nestjs-zeromq';
import { filter, Subscription } from 'rxjs';

/**
 * Logs the callers (clients) that join and leave this service. The ServerZmq
 * strategy lives outside Nest's container, so this provider reads the
 * injectable ZmqPeerEvents instead of `server.on(...)`.
 */
@Injectable()
export class CallerLog implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Callers');
  private subscription: Subscription | undefined;

  constructor(private readonly peers: ZmqPeerEvents) {}

  onModuleInit(): void {
    this.subscription = this.peers.changes$.pipe(filter(c => c.role === 'server')).subscribe(c => this.log(c));
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  private log(c: ZmqPeerChange): void {
    const app = typeof c.metadata.app === 'string' ? ` (${c.metadata.app})` : '';
    const reason = c.reason === undefined ? '' : `, reason: ${c.reason}`;
    this.logger.log(`caller ${c.type}: ${c.peerId}${app}${reason}`);
  }
}
