import { MAX_DECODED_CONTAINERS, MAX_DECODED_VALUES } from './limits.js';

/**
 * The expansion limit of a JSON or MessagePack payload, checked on its bytes
 * before it is decoded (docs/security.md): one byte can decode into an object
 * or a Map of a hundred bytes or more, so a payload within `maxPayloadSize`
 * can still cost gigabytes decoded. A payload holds at most
 * MAX_DECODED_VALUES values (containers, scalars, map keys) and
 * MAX_DECODED_CONTAINERS arrays, objects and maps; a MessagePack container
 * or string never declares more than its payload can hold (the decoder
 * allocates what a header declares).
 *
 * Returns why the payload is over the limit, or `undefined`.
 */
export function expansionProblem(kind: 'json' | 'msgpack', bytes: Buffer): string | undefined {
  // Every value takes at least one byte: a payload shorter than both limits cannot pass them.
  if (kind === 'json') return bytes.length <= MAX_DECODED_CONTAINERS ? undefined : scanJson(bytes);
  return scanMsgpack(bytes);
}

function tooMany(values: number, containers: number): string | undefined {
  if (containers > MAX_DECODED_CONTAINERS)
    return `the payload holds over ${MAX_DECODED_CONTAINERS} arrays, objects or maps (the expansion limit)`;
  if (values > MAX_DECODED_VALUES) return `the payload holds over ${MAX_DECODED_VALUES} values (the expansion limit)`;
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** JSON, outside strings: each `[` and `{` is a container and a value, each `,` and `:` one more value; it stops at a limit. */
function scanJson(bytes: Buffer): string | undefined {
  let containers = 0;
  let values = 1;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      // Skip the string: a backslash escapes the byte after it.
      for (i++; i < n; i++) {
        const c = bytes[i]!;
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) break;
      }
    } else if (b === 0x5b || b === 0x7b) {
      values++;
      if (++containers > MAX_DECODED_CONTAINERS) break;
    } else if (b === 0x2c || b === 0x3a) {
      if (++values > MAX_DECODED_VALUES) break;
    }
  }
  return tooMany(values, containers);
}

/**
 * The layout of each MessagePack token, by type byte, in typed tables (the
 * scan is a tight loop over every token): BODY, the bytes after the type
 * byte of a token of fixed size (-1: a length field follows, or 0xc1, which
 * is never used); LEN, the size of the big-endian length field of a string,
 * binary, extension, array or map (then EXTRA, 1 for an extension's type
 * byte); COUNT, the elements a fixarray / fixmap declares (-1: none); PER,
 * what one declared unit holds: 0 body bytes, 1 an array element, 2 a map entry.
 */
const BODY = new Int16Array(256);
const LEN = new Uint8Array(256);
const EXTRA = new Uint8Array(256);
const COUNT = new Int16Array(256).fill(-1);
const PER = new Uint8Array(256);

function layout(): void {
  for (let t = 0x80; t <= 0x9f; t++) {
    COUNT[t] = t & 0x0f;
    PER[t] = t <= 0x8f ? 2 : 1;
  }
  for (let t = 0xa0; t <= 0xbf; t++) BODY[t] = t & 0x1f;
  const fixed: Array<[number, number]> = [
    [0xc1, -1],
    [0xca, 4],
    [0xcb, 8],
    [0xcc, 1],
    [0xcd, 2],
    [0xce, 4],
    [0xcf, 8],
    [0xd0, 1],
    [0xd1, 2],
    [0xd2, 4],
    [0xd3, 8],
    [0xd4, 2],
    [0xd5, 3],
    [0xd6, 5],
    [0xd7, 9],
    [0xd8, 17],
  ];
  for (const [t, body] of fixed) BODY[t] = body;
  // [type, length field bytes, extension type byte, per]: bin, ext, str, array, map.
  const sized: Array<[number, number, number, number]> = [
    [0xc4, 1, 0, 0],
    [0xc5, 2, 0, 0],
    [0xc6, 4, 0, 0],
    [0xc7, 1, 1, 0],
    [0xc8, 2, 1, 0],
    [0xc9, 4, 1, 0],
    [0xd9, 1, 0, 0],
    [0xda, 2, 0, 0],
    [0xdb, 4, 0, 0],
    [0xdc, 2, 0, 1],
    [0xdd, 4, 0, 1],
    [0xde, 2, 0, 2],
    [0xdf, 4, 0, 2],
  ];
  for (const [t, len, extra, per] of sized) {
    LEN[t] = len;
    EXTRA[t] = extra;
    PER[t] = per;
  }
}
layout();

const invalid = (t: number, at: number) => `the payload is not valid MessagePack (byte 0x${t.toString(16)} at ${at})`;
const CUT = 'a MessagePack string or binary declares more bytes than its payload holds';
const OVERDECLARED = 'a MessagePack container declares more elements than its payload holds';

/** The value of a `len`-byte big-endian length field at `i`. */
function lengthAt(b: Buffer, i: number, len: number): number {
  return len === 1 ? b[i]! : len === 2 ? b.readUInt16BE(i) : b.readUInt32BE(i);
}

/**
 * MessagePack: walks the tokens in order (whatever the nesting: msgpackr's
 * records put values after a definition that a plain reader does not
 * expect), counting each token as a value and each array and map header as a
 * container. A container may declare no more elements than the bytes left,
 * and all containers together no more than there are tokens (each element is
 * a token of its own): msgpackr allocates what a header declares before it
 * reads the elements.
 */
function scanMsgpack(bytes: Buffer): string | undefined {
  const n = bytes.length;
  let containers = 0;
  let values = 0;
  let declared = 0;
  let i = 0;
  while (i < n) {
    const t = bytes[i++]!;
    values++;
    let body = BODY[t]!;
    let count = COUNT[t]!;
    const len = LEN[t]!;
    if (len !== 0) {
      const header = len + EXTRA[t]!;
      if (n - i < header) return invalid(t, i - 1);
      const v = lengthAt(bytes, i, len);
      i += header;
      if (PER[t] === 0) body = v;
      else count = v;
    } else if (body < 0) return invalid(t, i - 1);
    if (count >= 0) {
      containers++;
      declared += count * PER[t]!;
      if (count * PER[t]! > n - i) return OVERDECLARED;
    }
    if (body > n - i) return CUT;
    i += body;
    if (values > MAX_DECODED_VALUES || containers > MAX_DECODED_CONTAINERS) return tooMany(values, containers);
  }
  return declared > values ? OVERDECLARED : undefined;
}
