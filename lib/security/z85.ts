/**
 * Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 4 bytes become 5
 * characters of an 85-character alphabet. Pure: no zeromq import.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

const DIGITS = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));

/** Whether `text` is Z85 of a byte length that is a multiple of 4 (every group below 2^32). */
export function isZ85(text: string): boolean {
  return decodeZ85(text) !== undefined;
}

/** The bytes of a Z85 string; `undefined` when it is not valid Z85. */
export function decodeZ85(text: string): Buffer | undefined {
  if (typeof text !== 'string' || text.length % 5 !== 0) return undefined;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const digit = DIGITS.get(text[i + j]!);
      if (digit === undefined) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    out.writeUInt32BE(value, (i / 5) * 4);
  }
  return out;
}

/** The Z85 text of `bytes`, whose length must be a multiple of 4. */
export function encodeZ85(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError('Z85 encodes a multiple of 4 bytes');
  let text = '';
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < view.length; i += 4) {
    let value = view.readUInt32BE(i);
    const group: string[] = [];
    for (let j = 0; j < 5; j++) {
      group.unshift(ALPHABET[value % 85]!);
      value = Math.floor(value / 85);
    }
    text += group.join('');
  }
  return text;
}
