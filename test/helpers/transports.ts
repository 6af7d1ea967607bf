import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TransportKind = 'tcp' | 'ipc' | 'inproc';

/** Every transport the e2e suites run over. */
export const TRANSPORTS: readonly TransportKind[] = ['tcp', 'ipc', 'inproc'];

let inprocCounter = 0;

/** Temporary directories for ipc endpoints, removed by `cleanup()`. */
export class TempDirs {
  private readonly dirs: string[] = [];

  /** A new short directory under the OS temp dir (ipc paths are limited to ~107 bytes). */
  make(): string {
    const dir = mkdtempSync(join(tmpdir(), 'zq-'));
    this.dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A bind endpoint for `kind`: a free tcp port on 127.0.0.1 (read the real one
 * back from `server.endpoints`), an ipc socket in a fresh temp dir, or a
 * unique inproc name.
 */
export function bindEndpoint(kind: TransportKind, dirs: TempDirs): string {
  switch (kind) {
    case 'tcp':
      return 'tcp://127.0.0.1:*';
    case 'ipc':
      return `ipc://${join(dirs.make(), 's.sock')}`;
    case 'inproc':
      return `inproc://e2e-${process.pid}-${++inprocCounter}-${Math.random().toString(36).slice(2, 8)}`;
  }
}
