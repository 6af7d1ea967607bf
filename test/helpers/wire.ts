// A hand-written encoder for the wire format, independent of lib/: the numbers
// are written out from docs/PROTOCOL.md so the tests pin the documented layout.

export const T = { HELLO: 1, WELCOME: 2, REQUEST: 3, CHUNK: 4, END: 5, ERROR: 6, EVENT: 7, CANCEL: 8, PING: 9, PONG: 10, BYE: 11 };
export const ENC = { NONE: 0, JSON: 1, RAW: 2 };
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

/** Envelopes of a received message; `start` skips a ROUTER's routing-id frame. */
export function parseEnvelopes(frames: Buffer[], start: number): ParsedEnvelope[] {
  const out: ParsedEnvelope[] = [];
  for (let i = start; i + 1 < frames.length; i += 2) {
    const h = frames[i]!;
    const p = frames[i + 1]!;
    out.push({
      version: h[0]!,
      type: h[1]!,
      flags: h[2]!,
      id: h.readUInt32BE(4),
      pattern: h.toString('utf8', 10, 10 + h.readUInt16BE(8)),
      body: h[3] === ENC.JSON ? JSON.parse(p.toString('utf8')) : h[3] === ENC.RAW ? p : undefined,
    });
  }
  return out;
}

/** The drop counters that changed between two `getStats().dropped` snapshots, as { reason: delta }. */
export function dropDelta<T extends Record<string, number>>(before: T, now: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(now) as Array<keyof T>) {
    if (now[key] !== before[key]) out[key] = (now[key] - before[key]) as T[keyof T];
  }
  return out;
}
