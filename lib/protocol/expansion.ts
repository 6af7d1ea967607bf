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

/** JSON: containers are `[` and `{` outside strings; values, the containers and the commas between elements. */
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
      containers++;
      values++;
    } else if (b === 0x2c || b === 0x3a) {
      values++;
    }
  }
  return tooMany(values, containers);
}

/**
 * MessagePack: walks the tokens in order (whatever the nesting: msgpackr's
 * records put values after a definition that a plain reader does not
 * expect), counting each token as a value, each array and map header as a
 * container, and checking each declared length against the bytes left.
 */
function scanMsgpack(bytes: Buffer): string | undefined {
  let containers = 0;
  let values = 0;
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const t = bytes[i++]!;
    values++;
    let skip = 0; // bytes of a string, binary or extension body after the header
    let declared = -1; // elements an array (or entries a map) declares
    let perElement = 1;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      // fixint, nil, false, true
    } else if (t <= 0x8f) {
      declared = t & 0x0f;
      perElement = 2;
    } else if (t <= 0x9f) {
      declared = t & 0x0f;
    } else if (t <= 0xbf) {
      skip = t & 0x1f;
    } else {
      const r = fixedPart(t, bytes, i);
      if (r === undefined) return `the payload is not valid MessagePack (byte 0x${t.toString(16)} at ${i - 1})`;
      i += r.header;
      skip = r.skip;
      declared = r.declared;
      perElement = r.perElement;
    }
    if (declared >= 0) {
      containers++;
      if (declared * perElement > n - i) return `a MessagePack container declares more elements than its payload holds`;
    }
    if (skip > n - i) return `a MessagePack string or binary declares more bytes than its payload holds`;
    i += skip;
    if (values > MAX_DECODED_VALUES || containers > MAX_DECODED_CONTAINERS) return tooMany(values, containers);
  }
  return undefined;
}

/** The header bytes after type byte `t` at `i`, and what they declare; `undefined` for 0xc1 or a cut header. */
function fixedPart(
  t: number,
  b: Buffer,
  i: number,
): { header: number; skip: number; declared: number; perElement: number } | undefined {
  const left = b.length - i;
  const need = (k: number) => (left >= k ? k : -1);
  const fixed = (header: number, skip: number) =>
    need(header) < 0 ? undefined : { header, skip, declared: -1, perElement: 1 };
  const sized = (header: number, extra: number) => {
    if (need(header) < 0) return undefined;
    const len = header === 1 ? b[i]! : header === 2 ? b.readUInt16BE(i) : b.readUInt32BE(i);
    return { header: header + extra, skip: len, declared: -1, perElement: 1 };
  };
  const container = (header: number, perElement: number) => {
    if (need(header) < 0) return undefined;
    const len = header === 2 ? b.readUInt16BE(i) : b.readUInt32BE(i);
    return { header, skip: 0, declared: len, perElement };
  };
  switch (t) {
    case 0xc4: // bin 8/16/32
    case 0xd9: // str 8/16/32
      return sized(1, 0);
    case 0xc5:
    case 0xda:
      return sized(2, 0);
    case 0xc6:
    case 0xdb:
      return sized(4, 0);
    case 0xc7: // ext 8/16/32: length, then a type byte, then the body
      return withType(sized(1, 0), left);
    case 0xc8:
      return withType(sized(2, 0), left);
    case 0xc9:
      return withType(sized(4, 0), left);
    case 0xca:
      return fixed(0, 4);
    case 0xcb:
      return fixed(0, 8);
    case 0xcc:
    case 0xd0:
      return fixed(0, 1);
    case 0xcd:
    case 0xd1:
      return fixed(0, 2);
    case 0xce:
    case 0xd2:
      return fixed(0, 4);
    case 0xcf:
    case 0xd3:
      return fixed(0, 8);
    case 0xd4: // fixext 1/2/4/8/16: a type byte, then the body
      return fixed(0, 2);
    case 0xd5:
      return fixed(0, 3);
    case 0xd6:
      return fixed(0, 5);
    case 0xd7:
      return fixed(0, 9);
    case 0xd8:
      return fixed(0, 17);
    case 0xdc:
      return container(2, 1);
    case 0xdd:
      return container(4, 1);
    case 0xde:
      return container(2, 2);
    case 0xdf:
      return container(4, 2);
    default:
      return undefined; // 0xc1 is never used
  }
}

function withType<T extends { header: number }>(r: T | undefined, left: number): T | undefined {
  if (r === undefined || r.header + 1 > left) return undefined;
  return { ...r, header: r.header + 1 };
}
