import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { installMsgpack, msgpackCodec } from '../protocol/msgpack.js';

interface MsgpackrModule {
  Packr: new (options: Record<string, unknown>) => { pack(value: unknown): Buffer; unpack(bytes: Buffer): unknown };
}

/**
 * msgpackr settings of encoding 4 (docs/PROTOCOL.md §3.5): records keep plain
 * objects apart from Maps, each payload defines the records it uses (no state
 * across messages), and `moreTypes` carries Sets, typed arrays and Errors.
 */
const PACKR_OPTIONS = { useRecords: true, moreTypes: true, sequential: false, bundleStrings: false } as const;

/**
 * Loads msgpackr (an optional peer dependency) and installs the codec, once
 * per process. Rejects with `INVALID_OPTIONS` naming `codec` when it is not
 * installed: `codec: 'msgpack'` needs `npm install msgpackr`.
 */
export async function loadMsgpack(): Promise<void> {
  if (msgpackCodec() !== undefined) return;
  let mod: MsgpackrModule & { default?: MsgpackrModule };
  try {
    mod = (await import('msgpackr')) as unknown as MsgpackrModule & { default?: MsgpackrModule };
  } catch (err) {
    throw new ZmqOptionsError(
      'codec',
      `codec 'msgpack' needs the msgpackr package (npm install msgpackr): ${(err as Error).message}`,
    );
  }
  const Packr = mod.Packr ?? mod.default?.Packr;
  if (Packr === undefined) throw new ZmqOptionsError('codec', 'the msgpackr package has no Packr export');
  const packer = new Packr(PACKR_OPTIONS);
  const unpacker = new Packr(PACKR_OPTIONS);
  installMsgpack({ pack: value => packer.pack(value), unpack: bytes => unpacker.unpack(bytes) });
}
