import { encodePattern } from '../frames.js';

const PATTERN_CACHE_LIMIT = 1_000;

/** Encoded header patterns, so the common patterns are encoded once (bounded). */
export class PatternCache {
  private readonly cache = new Map<string, Buffer>();

  /** The pattern's UTF-8 bytes; throws past MAX_PATTERN_BYTES. */
  bytes(pattern: string): Buffer {
    let bytes = this.cache.get(pattern);
    if (bytes === undefined) {
      bytes = encodePattern(pattern);
      if (this.cache.size < PATTERN_CACHE_LIMIT) this.cache.set(pattern, bytes);
    }
    return bytes;
  }
}
