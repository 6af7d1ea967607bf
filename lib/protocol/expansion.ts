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
 * What follows a MessagePack type byte from 0xc4 to 0xdf: `fixed` bytes of
 * body; or a big-endian length of `len` bytes (then, for an extension, a
 * type byte) that counts the body's bytes (`per` 0) or the elements of an
 * array (`per` 1) or entries of a map (`per` 2). 0xc1 is never used.
 */
type Head = { readonly fixed: number } | { readonly len: 1 | 2 | 4; readonly ext?: true; readonly per: 0 | 1 | 2 };

const HEADS: Record<number, Head> = {
  0xc4: { len: 1, per: 0 }, // bin 8/16/32
  0xc5: { len: 2, per: 0 },
  0xc6: { len: 4, per: 0 },
  0xc7: { len: 1, ext: true, per: 0 }, // ext 8/16/32
  0xc8: { len: 2, ext: true, per: 0 },
  0xc9: { len: 4, ext: true, per: 0 },
  0xca: { fixed: 4 }, // float 32/64
  0xcb: { fixed: 8 },
  0xcc: { fixed: 1 }, // uint 8/16/32/64
  0xcd: { fixed: 2 },
  0xce: { fixed: 4 },
  0xcf: { fixed: 8 },
  0xd0: { fixed: 1 }, // int 8/16/32/64
  0xd1: { fixed: 2 },
  0xd2: { fixed: 4 },
  0xd3: { fixed: 8 },
  0xd4: { fixed: 2 }, // fixext 1/2/4/8/16: a type byte, then the body
  0xd5: { fixed: 3 },
  0xd6: { fixed: 5 },
  0xd7: { fixed: 9 },
  0xd8: { fixed: 17 },
  0xd9: { len: 1, per: 0 }, // str 8/16/32
  0xda: { len: 2, per: 0 },
  0xdb: { len: 4, per: 0 },
  0xdc: { len: 2, per: 1 }, // array 16/32
  0xdd: { len: 4, per: 1 },
  0xde: { len: 2, per: 2 }, // map 16/32
  0xdf: { len: 4, per: 2 },
};

/** A token's shape: header bytes after the type byte, body bytes to skip, elements it declares (-1: none). */
interface Token {
  header: number;
  skip: number;
  declared: number;
  per: number;
}

/** The shape of a token whose type byte says it all (below 0xc0, or 0xe0 and up); false for the others. */
function shortToken(t: number, out: Token): boolean {
  if (t <= 0x7f || t >= 0xe0) return true; // fixint
  if (t <= 0x8f) {
    out.declared = t & 0x0f; // fixmap
    out.per = 2;
  } else if (t <= 0x9f)
    out.declared = t & 0x0f; // fixarray
  else if (t <= 0xbf)
    out.skip = t & 0x1f; // fixstr
  else return false;
  return true;
}

/** The shape of the token of type byte `t` whose header starts at `i`; `undefined` when unknown or cut short. */
function tokenAt(t: number, b: Buffer, i: number, out: Token): Token | undefined {
  out.header = 0;
  out.skip = 0;
  out.declared = -1;
  out.per = 1;
  if (shortToken(t, out) || t === 0xc0 || t === 0xc2 || t === 0xc3) return out; // nil, false, true
  const head = HEADS[t];
  if (head === undefined) return undefined;
  if ('fixed' in head) {
    out.skip = head.fixed;
    return out;
  }
  const header = head.len + (head.ext ? 1 : 0);
  if (b.length - i < header) return undefined;
  const len = head.len === 1 ? b[i]! : head.len === 2 ? b.readUInt16BE(i) : b.readUInt32BE(i);
  out.header = header;
  if (head.per === 0) out.skip = len;
  else {
    out.declared = len;
    out.per = head.per;
  }
  return out;
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
  const token: Token = { header: 0, skip: 0, declared: -1, per: 1 };
  let i = 0;
  while (i < n) {
    const t = bytes[i++]!;
    values++;
    if (tokenAt(t, bytes, i, token) === undefined) {
      return `the payload is not valid MessagePack (byte 0x${t.toString(16)} at ${i - 1})`;
    }
    i += token.header;
    if (token.declared >= 0) {
      containers++;
      if (token.declared * token.per > n - i)
        return 'a MessagePack container declares more elements than its payload holds';
    }
    if (token.skip > n - i) return 'a MessagePack string or binary declares more bytes than its payload holds';
    i += token.skip;
    if (values > MAX_DECODED_VALUES || containers > MAX_DECODED_CONTAINERS) return tooMany(values, containers);
  }
  return undefined;
}
