import { printable } from '../common/log-limiter.js';
import type { CliIo } from './args.js';

/** A value as one line: strings as they are (unless `json`), anything else as JSON. */
export function valueLine(value: unknown, json: boolean): string {
  if (typeof value === 'string' && !json) return value;
  return JSON.stringify(value) ?? 'undefined';
}

/** Milliseconds, rounded for a person. */
export function ms(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ms`;
}

/** Aligned `label  value` lines. */
export function fields(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  // Values come from servers (ids, metadata): control characters are shown escaped, never sent to the terminal.
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${printable(v, Number.MAX_SAFE_INTEGER)}`).join('\n') + '\n';
}

/** The code and message of an error (a remote one with its status). */
export function errorInfo(err: unknown): { code: string; message: string; status?: unknown } {
  const e = err as { code?: unknown; message?: unknown; status?: unknown } | null;
  const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : 'ERROR';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return { code, message, ...(e?.status !== undefined && e.status !== 'error' ? { status: e.status } : {}) };
}

/**
 * Prints an error: `error CODE: message` on stderr, or with `json` a line
 * `{"error":{"code","message"}}` on stdout, for a script to parse.
 */
export function printError(io: CliIo, err: unknown, json: boolean): void {
  const info = errorInfo(err);
  if (json) io.out(JSON.stringify({ error: info }) + '\n');
  else
    io.err(
      `error ${printable(info.code)}: ${printable(info.message, Number.MAX_SAFE_INTEGER)}${info.status !== undefined ? ` (status ${JSON.stringify(info.status)})` : ''}\n`,
    );
}
