import { BaseRpcContext } from '@nestjs/microservices';

/** Arguments of {@link ZmqContext}: pattern, peer id, request id, metadata, deadline, CURVE public key. */
export type ZmqContextArgs = [
  pattern: string,
  peerId: string,
  requestId: number | undefined,
  metadata: Record<string, string> | null,
  deadline?: number | undefined,
  publicKey?: string | undefined,
];

/**
 * What `@Ctx()` gives a ZeroMQ handler.
 *
 * ```ts
 * @MessagePattern('sum')
 * sum(@Payload() n: number[], @Ctx() ctx: ZmqContext) {
 *   ctx.getPeerId(); // the calling client's id
 * }
 * ```
 */
export class ZmqContext extends BaseRpcContext<ZmqContextArgs> {
  /** The normalized pattern of the request or event. */
  getPattern(): string {
    return this.args[0];
  }

  /** The id the calling client announced in its handshake. */
  getPeerId(): string {
    return this.args[1];
  }

  /** The request id (unique per client connection); `undefined` for events. */
  getRequestId(): number | undefined {
    return this.args[2];
  }

  /**
   * Packet metadata the client set with `setOnDispatchHook` (Nest 12), or
   * `null` when it sent none.
   */
  getMetadata(): Record<string, string> | null {
    return this.args[3];
  }

  /**
   * When the caller stops waiting for this request's first reply, in epoch
   * milliseconds on this server's clock (`Date.now()` terms), or `undefined`
   * when it set no `requestTimeout` (and for events). The server cancels the
   * handler when it passes (teardown runs); each streamed value gives the
   * caller the same wait again.
   *
   * ```ts
   * if (ctx.getDeadline() !== undefined && ctx.getDeadline()! - Date.now() < 100) throw new RpcException('too late');
   * ```
   */
  getDeadline(): number | undefined {
    return this.args[4];
  }

  /**
   * The caller's CURVE public key (Z85, 40 characters), proven in its
   * handshake and allowed by the server's `allow`; `undefined` on a server
   * without `curve`. A guard can authorize per pattern with it.
   *
   * ```ts
   * const admins = new Set([process.env.ADMIN_KEY]);
   * if (!admins.has(ctx.getPublicKey()!)) throw new RpcException({ code: 'E_FORBIDDEN', message: 'admins only' });
   * ```
   */
  getPublicKey(): string | undefined {
    return this.args[5];
  }
}
