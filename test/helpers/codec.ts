import { EncodedPayload, encodeWirePayload } from '../../lib/protocol/codec';
import { EMPTY, Encoding } from '../../lib/protocol/frames';

/** A value as the payload frame the writer would send: text as its UTF-8 bytes. */
export function encodePayload(value: unknown): EncodedPayload {
  const { encoding, payload } = encodeWirePayload(value);
  if (encoding === Encoding.None) return { encoding, bytes: EMPTY };
  return { encoding, bytes: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload };
}
