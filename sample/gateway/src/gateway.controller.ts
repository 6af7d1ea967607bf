import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  MessageEvent,
  Param,
  Post,
  Query,
  Sse,
} from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { ZmqError } from 'nestjs-zeromq';
import { catchError, firstValueFrom, lastValueFrom, map, Observable, of } from 'rxjs';
import {
  MATH_SERVICE,
  MathPatterns,
  Notification,
  NotificationPatterns,
  NOTIFICATIONS_SERVICE,
  Operands,
  StreamCounts,
} from '../../shared/src';
import { CountParams, NotifyDto, OperandsQuery } from './dto';
import { PeerLog } from './peer-log.service';
import { toHttpError } from './zmq-exception.filter';

@Controller()
export class GatewayController {
  constructor(
    @Inject(MATH_SERVICE) private readonly math: ClientProxy,
    @Inject(NOTIFICATIONS_SERVICE) private readonly notifications: ClientProxy,
    private readonly peers: PeerLog,
  ) {}

  /** Request/reply. */
  @Get('sum')
  sum(@Query() { a, b }: OperandsQuery): Promise<Operands & { sum: number }> {
    return firstValueFrom(this.math.send(MathPatterns.sum, { a, b }));
  }

  /** A remote typed error: b=0 makes the math service throw E_DIVISION_BY_ZERO (status 422). */
  @Get('divide')
  divide(@Query() { a, b }: OperandsQuery): Promise<Operands & { quotient: number }> {
    return firstValueFrom(this.math.send(MathPatterns.divide, { a, b }));
  }

  /**
   * A stream as Server-Sent Events: one event per value, then the response
   * ends. When the HTTP client goes away, Nest unsubscribes, and that cancels
   * the stream on the math service. A transport error (e.g. the service
   * died) ends the stream with an `error` event.
   */
  @Sse('count/:n')
  count(@Param() { n }: CountParams): Observable<MessageEvent> {
    return this.math.send<number>(MathPatterns.count, n).pipe(
      map((value): MessageEvent => ({ data: { value } })),
      catchError((err: unknown) =>
        of<MessageEvent>({
          type: 'error',
          data: err instanceof ZmqError ? toHttpError(err) : { message: String(err) },
        }),
      ),
    );
  }

  /** Count streams the math service completed and those cancelled by their caller. */
  @Get('streams')
  streams(): Promise<StreamCounts> {
    return firstValueFrom(this.math.send(MathPatterns.streams, {}));
  }

  /** An event (fire-and-forget), after the body passed the ValidationPipe. */
  @Post('notify')
  @HttpCode(HttpStatus.ACCEPTED)
  async notify(@Body() { to, text }: NotifyDto): Promise<{ accepted: true }> {
    await lastValueFrom(this.notifications.emit(NotificationPatterns.send, { to, text }), { defaultValue: undefined });
    return { accepted: true };
  }

  @Get('notifications')
  recent(): Promise<Notification[]> {
    return firstValueFrom(this.notifications.send(NotificationPatterns.recent, {}));
  }

  @Get('peers')
  listPeers(): ReturnType<PeerLog['snapshot']> {
    return this.peers.snapshot();
  }
}
