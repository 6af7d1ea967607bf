import { ZmqMessageTooLargeError } from '../errors/zmq.errors.js';
import { dataEnvelope, errorEnvelope } from './envelopes.js';
import { MessageType, OutEnvelope } from './frames.js';
import { MAX_HANDSHAKE_BYTES, MAX_ID_LENGTH, PROTOCOL_VERSION } from './limits.js';

/** Heartbeat settings a peer announces (docs/PROTOCOL.md §4). */
export interface HeartbeatSettings {
  /** Milliseconds between heartbeats. */
  interval: number;
  /** Missed intervals before the peer is declared dead. */
  liveness: number;
}

/** Payload of HELLO (client → server). */
export interface Hello {
  version: number;
  id: string;
  /**
   * Random token of one client object (HELLO only). A HELLO that claims the id
   * of another connection with the same instance is that client reconnecting.
   */
  instance?: string;
  metadata: Record<string, unknown>;
  heartbeat: HeartbeatSettings;
  /**
   * Capabilities beyond protocol 1.0 (docs/PROTOCOL.md §4.4). In a HELLO:
   * what the client offers; in a WELCOME: what the server accepts of that
   * offer for this session. Absent means none (a 1.0 peer sends none).
   */
  features?: string[];
  /**
   * HELLO to a CURVE server (feature `curve-key`, docs/PROTOCOL.md §12.1): the
   * client's public key and the proof that it holds the secret key; with
   * `nonce` (feature `curve-key-2`, §12.2) the proof covers the server's
   * CHALLENGE nonce for this connection.
   */
  curve?: { key: string; proof: string; nonce?: string };
  /**
   * With the `credit` feature (docs/PROTOCOL.md §6): the values this side
   * lets a stream carry towards it before it grants more (its `streamWindow`).
   */
  window?: number;
}

/** Payload of WELCOME (server → client). */
export interface Welcome extends Hello {
  /** Normalized patterns of the server's message handlers. */
  patterns: string[];
  /** Normalized patterns of the server's event handlers. */
  events: string[];
  /** Patterns (of `patterns`) whose handlers are idempotent: a client may send such a request again elsewhere. */
  idempotent?: string[];
}

/** Payload of CHALLENGE (server → client, docs/PROTOCOL.md §12.2): the nonce the next HELLO's key proof covers. */
export interface Challenge {
  nonce: string;
}

/** Payload of a connection-level ERROR (id 0), e.g. a refused handshake. */
export interface Refusal {
  status: 'error';
  code: string;
  message: string;
  version: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPositive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every(s => typeof s === 'string');
}

const MAX_FEATURES = 32;

/** The largest `window` a handshake may announce, and the largest grant counted (u32 on the wire, kept a safe count). */
export const MAX_WINDOW = 0x7fffffff;

function isWindow(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_WINDOW;
}
const MAX_FEATURE_LENGTH = 64;

function isFeatureList(v: unknown): v is string[] {
  return (
    Array.isArray(v) &&
    v.length <= MAX_FEATURES &&
    v.every(f => typeof f === 'string' && f.length > 0 && f.length <= MAX_FEATURE_LENGTH)
  );
}

/**
 * The feature a client offers when it sends its callers' remaining time in
 * each REQUEST (flag DEADLINE, docs/PROTOCOL.md §5.5); a server that takes it
 * cancels a call whose caller stopped waiting.
 */
export const DEADLINE_FEATURE = 'deadline';

/**
 * The feature of a side that answers a BYE with a BYE (docs/PROTOCOL.md §10),
 * so that the closing side knows its BYE arrived before it closes.
 */
export const BYE_ACK_FEATURE = 'bye-ack';

/**
 * The feature of a client that understands DRAIN (docs/PROTOCOL.md §5.6): a
 * closing server that took it tells the client to stop sending requests, lets
 * the calls in flight finish, and only then says BYE.
 */
export const DRAIN_FEATURE = 'drain';

/** Whether a handshake lists `feature`. */
export function hasFeature(handshake: Hello, feature: string): boolean {
  return handshake.features?.includes(feature) === true;
}

function isIdString(v: unknown, minLength: number): v is string {
  return typeof v === 'string' && v.length >= minLength && v.length <= MAX_ID_LENGTH;
}

/** Why a decoded HELLO is invalid, or `undefined` when it is valid. */
function helloProblem(v: Record<string, unknown>): string | undefined {
  if (!isIdString(v.id, 1)) return `hello id must be a string of 1 to ${MAX_ID_LENGTH} characters`;
  if (typeof v.version !== 'number') return 'hello has no version';
  if (v.instance !== undefined && !isIdString(v.instance, 0)) {
    return `hello instance must be a string of at most ${MAX_ID_LENGTH} characters`;
  }
  if (v.metadata !== undefined && !isRecord(v.metadata)) return 'hello metadata is not an object';
  const hb = v.heartbeat;
  if (!isRecord(hb) || !isPositive(hb.interval) || !isPositive(hb.liveness))
    return 'hello heartbeat settings are invalid';
  if (v.features !== undefined && !isFeatureList(v.features)) {
    return `hello features must be at most ${MAX_FEATURES} strings of 1 to ${MAX_FEATURE_LENGTH} characters`;
  }
  return extensionProblem(v);
}

/** The fields of later features: `curve` (§12.1) and `window` (§6). */
function extensionProblem(v: Record<string, unknown>): string | undefined {
  if (v.curve !== undefined && !isCurveField(v.curve)) return 'hello curve must be { key, proof, nonce? } strings';
  if (v.window !== undefined && !isWindow(v.window)) return `hello window must be an integer of 1 to ${MAX_WINDOW}`;
  return undefined;
}

function isCurveField(v: unknown): v is { key: string; proof: string; nonce?: string } {
  return (
    isRecord(v) && isIdString(v.key, 1) && isIdString(v.proof, 1) && (v.nonce === undefined || isIdString(v.nonce, 1))
  );
}

function curveOf(v: { key: string; proof: string; nonce?: string }): NonNullable<Hello['curve']> {
  return { key: v.key, proof: v.proof, ...(v.nonce !== undefined ? { nonce: v.nonce } : {}) };
}

/** Validates a decoded HELLO payload; returns a reason string when invalid. */
export function validateHello(v: unknown): Hello | string {
  if (!isRecord(v)) return 'hello is not an object';
  const problem = helloProblem(v);
  if (problem !== undefined) return problem;
  const hb = v.heartbeat as HeartbeatSettings;
  return {
    version: v.version as number,
    id: v.id as string,
    ...(typeof v.instance === 'string' ? { instance: v.instance } : {}),
    metadata: (v.metadata as Record<string, unknown> | undefined) ?? {},
    heartbeat: { interval: hb.interval, liveness: hb.liveness },
    ...(v.features !== undefined ? { features: [...(v.features as string[])] } : {}),
    ...(isCurveField(v.curve) ? { curve: curveOf(v.curve) } : {}),
    ...(v.window !== undefined ? { window: v.window as number } : {}),
  };
}

/** Validates a decoded WELCOME payload; returns a reason string when invalid. */
export function validateWelcome(v: unknown): Welcome | string {
  const hello = validateHello(v);
  if (typeof hello === 'string') return hello.replace('hello', 'welcome');
  const w = v as Record<string, unknown>;
  if (!isStringArray(w.patterns) || !isStringArray(w.events)) return 'welcome patterns are invalid';
  // An `idempotent` that is not a list of strings is ignored: then nothing is retried, which is always safe.
  const idempotent = isStringArray(w.idempotent) ? { idempotent: w.idempotent } : {};
  return { ...hello, patterns: w.patterns, events: w.events, ...idempotent };
}

/** Validates a decoded CHALLENGE payload; returns a reason string when invalid. */
export function validateChallenge(v: unknown): Challenge | string {
  if (!isRecord(v) || !isIdString(v.nonce, 1)) {
    return `a challenge must be { nonce }, a string of 1 to ${MAX_ID_LENGTH} characters`;
  }
  return { nonce: v.nonce };
}

/** A CHALLENGE envelope (docs/PROTOCOL.md §12.2). */
export function challengeEnvelope(nonce: string): OutEnvelope {
  const challenge: Challenge = { nonce };
  return dataEnvelope(MessageType.Challenge, 0, challenge, MAX_HANDSHAKE_BYTES);
}

/** Validates a connection-level ERROR payload. */
export function asRefusal(v: unknown): Refusal | undefined {
  if (!isRecord(v) || typeof v.code !== 'string' || typeof v.message !== 'string') return undefined;
  return { status: 'error', code: v.code, message: v.message, version: Number(v.version) || 0 };
}

/**
 * A HELLO or connection-level ERROR in another protocol version still has the
 * version in byte 0 and the type in byte 1 (the only bytes every version keeps).
 * Returns that version when the frame is such a message of a foreign version.
 */
export function peekForeignVersion(header: Buffer, type: MessageType.Hello | MessageType.Error): number | undefined {
  if (header.length < 2 || header[1] !== type || header[0] === PROTOCOL_VERSION) return undefined;
  return header[0];
}

/**
 * A HELLO or WELCOME envelope. Throws `TOO_LARGE` past MAX_HANDSHAKE_BYTES,
 * the limit the receiver applies too (docs/PROTOCOL.md §9).
 */
export function handshakeEnvelope(type: MessageType.Hello, value: Hello): OutEnvelope;
export function handshakeEnvelope(type: MessageType.Welcome, value: Welcome): OutEnvelope;
export function handshakeEnvelope(type: MessageType.Hello | MessageType.Welcome, value: Hello): OutEnvelope {
  return dataEnvelope(type, 0, value, MAX_HANDSHAKE_BYTES);
}

/** Throws `TOO_LARGE` when a handshake carrying `metadata` could not be sent. */
export function checkHandshakeMetadata(metadata: Record<string, unknown>, side: 'client' | 'server'): void {
  const probe: Hello = {
    version: PROTOCOL_VERSION,
    id: 'x'.repeat(MAX_ID_LENGTH),
    instance: 'x'.repeat(MAX_ID_LENGTH),
    metadata,
    heartbeat: { interval: Number.MAX_SAFE_INTEGER, liveness: Number.MAX_SAFE_INTEGER },
  };
  try {
    handshakeEnvelope(MessageType.Hello, probe);
  } catch (err) {
    if (!(err instanceof ZmqMessageTooLargeError)) throw err;
    throw new ZmqMessageTooLargeError(err.size, err.limit, `The ${side}'s "metadata" does not fit in a handshake`);
  }
}

/** A connection-level ERROR (id 0): a refused handshake or NOT_READY (docs/PROTOCOL.md §4.3). */
export function refusalEnvelope(code: string, message: string): OutEnvelope {
  const refusal: Refusal = { status: 'error', code, message, version: PROTOCOL_VERSION };
  return errorEnvelope(0, refusal);
}
