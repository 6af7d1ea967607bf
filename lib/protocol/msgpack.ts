/**
 * The MessagePack codec of encoding 4 (docs/PROTOCOL.md §3.5), installed once
 * per process by lib/common/msgpack-loader.ts when a server or client uses
 * `codec: 'msgpack'` (msgpackr is an optional peer dependency: the protocol
 * layer never imports it).
 */
export interface MsgpackCodec {
  pack(value: unknown): Buffer;
  unpack(bytes: Buffer): unknown;
}

/** The name a side lists in its handshake `features` when it takes encoding 4. */
export const MSGPACK_FEATURE = 'msgpack';

const INSTALLED = Symbol.for('nestjs-zeromq.msgpack');
const registry = globalThis as { [INSTALLED]?: MsgpackCodec };

/** Installs the codec (the first one installed stays: both builds of the package share it). */
export function installMsgpack(codec: MsgpackCodec): void {
  registry[INSTALLED] ??= codec;
}

/** The installed codec, or `undefined` when no side of this process uses MessagePack. */
export function msgpackCodec(): MsgpackCodec | undefined {
  return registry[INSTALLED];
}
