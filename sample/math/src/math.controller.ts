import { Controller, Logger } from '@nestjs/common';
import { MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { config, DIVISION_BY_ZERO, MathPatterns, Operands, StreamCounts } from '../../shared/src';

@Controller()
export class MathController {
  private readonly logger = new Logger('Math');
  private readonly streams: StreamCounts = { completed: 0, cancelled: 0 };

  /**
   * Idempotent: running it twice gives the same answer and changes nothing, so
   * a gateway whose math instance is lost mid-call sends it to another one
   * (docs/resilience.md).
   */
  @MessagePattern(MathPatterns.sum, { idempotent: true })
  sum(@Payload() { a, b }: Operands): Operands & { sum: number } {
    return { a, b, sum: a + b };
  }

  /** A typed remote error: the caller gets a ZmqRemoteError with this code and status. */
  @MessagePattern(MathPatterns.divide)
  divide(@Payload() { a, b }: Operands): Operands & { quotient: number } {
    if (b === 0) throw new RpcException({ ...DIVISION_BY_ZERO });
    return { a, b, quotient: a / b };
  }

  /**
   * Streams 0 … n-1. Returning an Observable makes the reply a stream; when
   * the caller unsubscribes early, the transport unsubscribes this Observable,
   * and its teardown below records and logs the cancellation.
   */
  @MessagePattern(MathPatterns.count)
  count(@Payload() n: number): Observable<number> {
    return new Observable<number>(subscriber => {
      let sent = 0;
      const finish = () => {
        this.streams.completed++;
        subscriber.complete();
      };
      if (n <= 0) {
        finish();
        return;
      }
      const timer = setInterval(() => {
        subscriber.next(sent++);
        if (sent === n) finish();
      }, config.countTickMs);
      return () => {
        clearInterval(timer);
        if (sent < n) {
          this.streams.cancelled++;
          this.logger.log(`count(${n}) cancelled by the caller after ${sent} value(s)`);
        }
      };
    });
  }

  @MessagePattern(MathPatterns.streams)
  streamCounts(): StreamCounts {
    return { ...this.streams };
  }
}
