import type { Logger } from '@nestjs/common';
import type { MessageHandler } from '@nestjs/microservices';
import type { ZmqContext } from '../ctx-host/zmq.context.js';
import type { ServerCall } from '../protocol/server/server-call.js';

/** Nest's processing hooks of a server (v11 and v12 both have them), as they are when a request starts. */
export interface ProcessingHooks {
  start: (transportId: symbol, ctx: ZmqContext, done: () => Promise<unknown>) => unknown;
  end: ((transportId: symbol, ctx: ZmqContext) => void) | undefined;
  transportId: symbol;
}

/** Runs `fn` inside the processing hooks; the end hook (after `onEnd`) runs once. */
export function runHooked(
  hooks: ProcessingHooks,
  log: Logger,
  ctx: ZmqContext,
  onEnd: (() => void) | undefined,
  fn: (end: () => void) => Promise<void>,
): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd?.();
    hooks.end?.(hooks.transportId, ctx);
  };
  try {
    const result = hooks.start(hooks.transportId, ctx, async () => {
      try {
        await fn(end);
      } catch (err) {
        end();
        throw err;
      }
    });
    Promise.resolve(result).catch(err => log.error(`Handler failed: ${String(err)}`));
  } catch (err) {
    log.error(`Processing hook failed: ${String(err)}`);
  }
}

/**
 * A request's handler when no processing hook is set: one promise reaction
 * instead of the hook wrapper's two async functions per request.
 */
export function runDirect(
  log: Logger,
  call: ServerCall,
  handler: MessageHandler,
  data: unknown,
  ctx: ZmqContext,
  onEnd: (() => void) | undefined,
): void {
  const failed = (err: unknown) => {
    call.fail(err);
    onEnd?.();
  };
  let pending: Promise<unknown>;
  try {
    pending = Promise.resolve(handler(data, ctx));
  } catch (err) {
    return failed(err);
  }
  pending.then(result => {
    try {
      call.respond(result, onEnd);
    } catch (err) {
      log.error(`Handler failed: ${String(err)}`);
    }
  }, failed);
}
