// A hand-written encoder for the wire format, independent of lib/: the numbers
// are written out from docs/PROTOCOL.md so the tests pin the documented layout.

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
  CHALLENGE: 15,
};
export const ENC = { NONE: 0, JSON: 1, RAW: 2, TEXT: 3 };
export const FLAG_END = 0x01;
export const FLAG_METADATA = 0x02;
export const EMPTY = Buffer.alloc(0);

export interface HeaderFields {
  id?: number;
  flags?: number;
  enc?: number;
  pattern?: string;
  meta?: string;
  version?: number;
}

/** A header frame (docs/PROTOCOL.md §3). */
export function header(type: number, o: HeaderFields = {}): Buffer {
  const pattern = Buffer.from(o.pattern ?? '', 'utf8');
  const fixed = Buffer.alloc(10);
  fixed[0] = o.version ?? 1;
  fixed[1] = type;
  fixed[2] = (o.flags ?? 0) | (o.meta !== undefined ? FLAG_METADATA : 0);
  fixed[3] = o.enc ?? ENC.NONE;
  fixed.writeUInt32BE(o.id ?? 0, 4);
  fixed.writeUInt16BE(pattern.length, 8);
  const parts = [fixed, pattern];
  if (o.meta !== undefined) {
    const meta = Buffer.from(o.meta, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(meta.length);
    parts.push(len, meta);
  }
  return Buffer.concat(parts);
}

export const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

/** A HELLO payload (docs/PROTOCOL.md §4.1). */
export function helloPayload(id: string, version = 1): Buffer {
  return json({ version, id, metadata: {}, heartbeat: { interval: 1000, liveness: 3 } });
}

export interface ParsedEnvelope {
  version: number;
  type: number;
  flags: number;
  id: number;
  pattern: string;
  body: unknown;
}

/** Type of a BATCH, the container of packed envelopes (docs/PROTOCOL.md §2.1). */
export const BATCH = 12;

/** Packs header/payload pairs into a BATCH payload: u16 header length, header, u32 payload length, payload. */
export function packBatch(pairs: Array<[Buffer, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [h, p] of pairs) {
    const hl = Buffer.alloc(2);
    hl.writeUInt16BE(h.length);
    const pl = Buffer.alloc(4);
    pl.writeUInt32BE(p.length);
    parts.push(hl, h, pl, p);
  }
  return Buffer.concat(parts);
}

/** The header/payload pairs of a message, each BATCH replaced by the pairs packed in it. */
function unpackPairs(frames: Buffer[], start: number): Array<[Buffer, Buffer]> {
  const pairs: Array<[Buffer, Buffer]> = [];
  for (let i = start; i + 1 < frames.length; i += 2) {
    const h = frames[i]!;
    const p = frames[i + 1]!;
    if (h.length !== 10 || h[0] !== 1 || h[1] !== BATCH) {
      pairs.push([h, p]);
      continue;
    }
    for (let o = 0; o < p.length;) {
      const hEnd = o + 2 + p.readUInt16BE(o);
      const pEnd = hEnd + 4 + p.readUInt32BE(hEnd);
      pairs.push([p.subarray(o + 2, hEnd), p.subarray(hEnd + 4, pEnd)]);
      o = pEnd;
    }
  }
  return pairs;
}

/** Envelopes of a received message (BATCHes unpacked); `start` skips a ROUTER's routing-id frame. */
export function parseEnvelopes(frames: Buffer[], start: number): ParsedEnvelope[] {
  return unpackPairs(frames, start).map(([h, p]) => ({
    version: h[0]!,
    type: h[1]!,
    flags: h[2]!,
    id: h.readUInt32BE(4),
    pattern: h.toString('utf8', 10, 10 + h.readUInt16BE(8)),
    body:
      h[3] === ENC.JSON
        ? JSON.parse(p.toString('utf8'))
        : h[3] === ENC.RAW
          ? p
          : h[3] === ENC.TEXT
            ? p.toString('utf8')
            : undefined,
  }));
}

/** The drop counters that changed between two `getStats().dropped` snapshots, as { reason: delta }. */
export function dropDelta<T extends Record<string, number>>(before: T, now: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(now) as Array<keyof T>) {
    if (now[key] !== before[key]) out[key] = (now[key] - before[key]) as T[keyof T];
  }
  return out;
}
