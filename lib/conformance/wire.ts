/**
 * The conformance kit's own view of the wire (docs/PROTOCOL.md §2, §3): it
 * builds and reads envelopes byte by byte, independent of lib/protocol/, so
 * that it judges a peer by the spec and not by this package's codec.
 */

/** Envelope types (§3). */
export const T = {
  HELLO: 1,
  WELCOME: 2,
  REQUEST: 3,
  CHUNK: 4,
  END: 5,
  ERROR: 6,
  EVENT: 7,
  CANCEL: 8,
  PING: 9,
  PONG: 10,
  BYE: 11,
  BATCH: 12,
  DRAIN: 13,
  CREDIT: 14,
  CHALLENGE: 15,
} as const;

/** Payload encodings (§3). */
export const ENC = { NONE: 0, JSON: 1, RAW: 2, TEXT: 3, MSGPACK: 4 } as const;

/** Header flags (§3). */
export const FLAG = { END: 0x01, METADATA: 0x02, DEADLINE: 0x04, STREAM: 0x08 } as const;

const TYPE_NAMES = Object.fromEntries(Object.entries(T).map(([name, n]) => [n, name])) as Record<number, string>;

/** The name of a type number, e.g. `CHUNK`, or `type 99`. */
export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `type ${type}`;
}

export interface HeaderFields {
  version?: number;
  flags?: number;
  enc?: number;
  id?: number;
  pattern?: string | Buffer;
  /** The metadata section's bytes (a string is UTF-8); sets flag METADATA. */
  meta?: string | Buffer;
  /** The deadline section (u32 ms); sets flag DEADLINE. */
  deadline?: number;
}

/** A header frame, field by field (§3). */
export function header(type: number, o: HeaderFields = {}): Buffer {
  const pattern = typeof o.pattern === 'string' ? Buffer.from(o.pattern, 'utf8') : (o.pattern ?? Buffer.alloc(0));
  const fixed = Buffer.alloc(10);
  fixed[0] = o.version ?? 1;
  fixed[1] = type;
  fixed[2] =
    (o.flags ?? 0) | (o.meta !== undefined ? FLAG.METADATA : 0) | (o.deadline !== undefined ? FLAG.DEADLINE : 0);
  fixed[3] = o.enc ?? ENC.NONE;
  fixed.writeUInt32BE((o.id ?? 0) >>> 0, 4);
  fixed.writeUInt16BE(pattern.length & 0xffff, 8);
  const parts = [fixed, pattern];
  if (o.meta !== undefined) {
    const meta = typeof o.meta === 'string' ? Buffer.from(o.meta, 'utf8') : o.meta;
    const len = Buffer.alloc(2);
    len.writeUInt16BE(meta.length & 0xffff);
    parts.push(len, meta);
  }
  if (o.deadline !== undefined) {
    const d = Buffer.alloc(4);
    d.writeUInt32BE(o.deadline >>> 0);
    parts.push(d);
  }
  return Buffer.concat(parts);
}

export const EMPTY = Buffer.alloc(0);
export const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

/** A u32 CREDIT grant (§6). */
export function grant(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** One header/payload pair. */
export type Pair = [header: Buffer, payload: Buffer];

/** A BATCH pair packing `pairs` (§2.1). */
export function batch(pairs: Pair[]): Pair {
  const parts: Buffer[] = [];
  for (const [h, p] of pairs) {
    const hl = Buffer.alloc(2);
    hl.writeUInt16BE(h.length);
    const pl = Buffer.alloc(4);
    pl.writeUInt32BE(p.length);
    parts.push(hl, h, pl, p);
  }
  return [header(T.BATCH, { enc: ENC.RAW }), Buffer.concat(parts)];
}

/** What the kit reads of a received envelope; `problem` says what breaks §3, when something does. */
export interface Seen {
  version: number;
  type: number;
  flags: number;
  enc: number;
  id: number;
  pattern: string | undefined;
  deadline: number | undefined;
  header: Buffer;
  payload: Buffer;
  problem: string | undefined;
}

const BATCH_HEADER = header(T.BATCH, { enc: ENC.RAW });

/** The pairs of a message (after `start` frames), each well-formed BATCH replaced by what it packs (§2.1). */
export function unpack(frames: readonly Buffer[], start: number): Pair[] | string {
  const n = frames.length - start;
  if (n <= 0 || n % 2 !== 0) return `a message of ${n} frames (a positive even number expected)`;
  const out: Pair[] = [];
  for (let i = start; i < frames.length; i += 2) {
    const h = frames[i]!;
    const p = frames[i + 1]!;
    if (!h.equals(BATCH_HEADER)) {
      out.push([h, p]);
      continue;
    }
    let o = 0;
    while (o < p.length) {
      if (o + 2 > p.length) return 'a truncated BATCH';
      const hEnd = o + 2 + p.readUInt16BE(o);
      if (hEnd + 4 > p.length) return 'a truncated BATCH';
      const pEnd = hEnd + 4 + p.readUInt32BE(hEnd);
      if (pEnd > p.length) return 'a truncated BATCH';
      out.push([p.subarray(o + 2, hEnd), p.subarray(hEnd + 4, pEnd)]);
      o = pEnd;
    }
  }
  return out;
}

/** Reads a pair as §3 lays it out; never throws. */
export function read([h, payload]: Pair): Seen {
  const seen: Seen = {
    version: h[0] ?? 0,
    type: h[1] ?? 0,
    flags: h[2] ?? 0,
    enc: h[3] ?? 0,
    id: h.length >= 8 ? h.readUInt32BE(4) : 0,
    pattern: undefined,
    deadline: undefined,
    header: h,
    payload,
    problem: undefined,
  };
  if (h.length < 10) return { ...seen, problem: `a header of ${h.length} bytes` };
  if (seen.version !== 1) return { ...seen, problem: `header version ${seen.version}` };
  let offset = 10;
  const patternLength = h.readUInt16BE(8);
  if (patternLength > 0) {
    if (10 + patternLength > h.length) return { ...seen, problem: 'a truncated pattern' };
    seen.pattern = h.toString('utf8', 10, 10 + patternLength);
    offset += patternLength;
  }
  if (seen.flags & FLAG.METADATA) {
    if (offset + 2 > h.length) return { ...seen, problem: 'a truncated metadata section' };
    offset += 2 + h.readUInt16BE(offset);
  }
  if (seen.flags & FLAG.DEADLINE) {
    if (offset + 4 > h.length) return { ...seen, problem: 'a truncated deadline' };
    seen.deadline = h.readUInt32BE(offset);
    offset += 4;
  }
  if (offset !== h.length) return { ...seen, problem: `${h.length - offset} trailing header bytes` };
  return seen;
}

/** The payload as a value: JSON parsed, TEXT a string, RAW the bytes, NONE undefined; throws on bad JSON. */
export function valueOf(seen: Seen): unknown {
  switch (seen.enc) {
    case ENC.NONE:
      return undefined;
    case ENC.JSON:
      return JSON.parse(seen.payload.toString('utf8')) as unknown;
    case ENC.TEXT:
      return seen.payload.toString('utf8');
    default:
      return seen.payload;
  }
}

/** The payload as a JSON object, or `undefined` when it is not one. */
export function objectOf(seen: Seen): Record<string, unknown> | undefined {
  if (seen.enc !== ENC.JSON) return undefined;
  try {
    const v = JSON.parse(seen.payload.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A one-line description of an envelope for a FAIL line. */
export function describe(seen: Seen): string {
  const body = seen.enc === ENC.JSON || seen.enc === ENC.TEXT ? ` ${seen.payload.toString('utf8').slice(0, 120)}` : '';
  return `${typeName(seen.type)}(${seen.id})${body}`;
}
