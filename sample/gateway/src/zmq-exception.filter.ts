import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ZmqError, ZmqErrorCode, ZmqRemoteError } from 'nestjs-zeromq';

export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

const LOCAL_STATUS: Record<string, number> = {
  [ZmqErrorCode.NO_PEER]: HttpStatus.SERVICE_UNAVAILABLE,
  [ZmqErrorCode.PEER_LOST]: HttpStatus.SERVICE_UNAVAILABLE,
  [ZmqErrorCode.CONNECT_TIMEOUT]: HttpStatus.SERVICE_UNAVAILABLE,
  [ZmqErrorCode.CONNECT_REFUSED]: HttpStatus.SERVICE_UNAVAILABLE,
  [ZmqErrorCode.CLOSED]: HttpStatus.SERVICE_UNAVAILABLE,
  [ZmqErrorCode.QUEUE_FULL]: HttpStatus.SERVICE_UNAVAILABLE,
  [ZmqErrorCode.TIMEOUT]: HttpStatus.GATEWAY_TIMEOUT,
  [ZmqErrorCode.TOO_LARGE]: HttpStatus.PAYLOAD_TOO_LARGE,
};

/**
 * The HTTP answer for a transport error:
 * - a remote error (a service threw `RpcException({ code, message, status })`)
 *   keeps its code, and its status when that is an HTTP error status; else 502;
 * - no service to ask, or it went away: 503; no answer in time: 504.
 */
export function toHttpError(err: ZmqError): ErrorBody {
  let statusCode: number;
  if (err instanceof ZmqRemoteError) {
    const remote = err.status;
    statusCode = typeof remote === 'number' && remote >= 400 && remote <= 599 ? remote : HttpStatus.BAD_GATEWAY;
  } else {
    statusCode = LOCAL_STATUS[err.code] ?? HttpStatus.INTERNAL_SERVER_ERROR;
  }
  return { statusCode, code: err.code, message: err.message };
}

/** Registered as APP_FILTER: answers every route that fails with a ZmqError. */
@Catch(ZmqError)
export class ZmqExceptionFilter implements ExceptionFilter<ZmqError> {
  private readonly logger = new Logger('Gateway');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(err: ZmqError, host: ArgumentsHost): void {
    const body = toHttpError(err);
    if (body.statusCode >= 500) this.logger.warn(`${body.statusCode} ${body.code}: ${body.message}`);
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), body, body.statusCode);
  }
}
