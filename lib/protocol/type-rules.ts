/**
 * What each envelope type allows in its header (docs/PROTOCOL.md §3, the
 * table of types): a pattern, a request id, a payload, the END flag.
 */
import { Encoding, Flag, MalformedError, MessageType } from './frames.js';

/** Types whose header carries a pattern. */
export function hasPattern(type: number): boolean {
  return type === MessageType.Request || type === MessageType.Event;
}

/**
 * Types that refer to a request and so need a non-zero id. ERROR may carry
 * id 0: a connection-level error such as a refused handshake.
 */
function needsId(type: number): boolean {
  return (
    type === MessageType.Request ||
    type === MessageType.Chunk ||
    type === MessageType.End ||
    type === MessageType.Cancel ||
    type === MessageType.Credit
  );
}

/** Types whose id MUST be 0 (§3): they refer to no request. */
function forbidsId(type: number): boolean {
  return (
    type === MessageType.Hello ||
    type === MessageType.Welcome ||
    type === MessageType.Event ||
    type === MessageType.Ping ||
    type === MessageType.Pong ||
    type === MessageType.Bye ||
    type === MessageType.Drain ||
    type === MessageType.Challenge
  );
}

/** Types whose payload MUST be NONE (§3). */
function forbidsPayload(type: number): boolean {
  return (
    type === MessageType.End ||
    type === MessageType.Cancel ||
    type === MessageType.Ping ||
    type === MessageType.Pong ||
    type === MessageType.Bye ||
    type === MessageType.Drain
  );
}

/** The per-type rules of §3's table: request id, payload encoding, the END flag (CHUNK only). */
export function checkTypeRules(type: number, flags: number, encoding: number, id: number): void {
  if (needsId(type) && id === 0) throw new MalformedError('header', `message type ${type} needs a request id`);
  if (forbidsId(type) && id !== 0) throw new MalformedError('header', `message type ${type} carries no request id`);
  if (forbidsPayload(type) && encoding !== Encoding.None) {
    throw new MalformedError('header', `message type ${type} carries no payload (encoding ${encoding})`, id);
  }
  if (flags & Flag.End && type !== MessageType.Chunk) {
    throw new MalformedError('header', `flag END on message type ${type}`, id);
  }
  checkStreamRules(type, flags, encoding, id);
}

/** CREDIT carries a RAW grant (§6); flag STREAM is a REQUEST's, whose data then follows as CHUNKs (§6.1). */
function checkStreamRules(type: number, flags: number, encoding: number, id: number): void {
  if (type === MessageType.Credit && encoding !== Encoding.Raw) {
    throw new MalformedError('header', `CREDIT with encoding ${encoding} (RAW expected)`, id);
  }
  if (flags & Flag.Stream) {
    if (type !== MessageType.Request) throw new MalformedError('header', `flag STREAM on message type ${type}`, id);
    if (encoding !== Encoding.None) throw new MalformedError('header', 'a STREAM request carries no payload', id);
  }
}
