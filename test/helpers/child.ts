import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

/** The repository root, found from the running spec file (works in Jest's ESM mode, where __dirname is missing). */
export function repoRoot(): string {
  const testPath = expect.getState().testPath;
  if (testPath === undefined) throw new Error('repoRoot() must be called while a test runs');
  let dir = dirname(testPath);
  // test/e2e/x.spec.ts -> repo root two levels up from the spec's folder.
  while (!/[\\/]test$/.test(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dirname(dir);
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node -r ./test/helpers/ts-register.cjs <script> ...args` from the
 * repo root and resolves on its 'exit' event. `hangGuardMs` only guards
 * against a child that never exits: it is then killed with SIGKILL and the
 * result says so (signal 'SIGKILL'), which the caller's assertions reject.
 */
export function runTsChild(script: string, args: string[] = [], hangGuardMs = 30_000): Promise<ChildResult> {
  const root = repoRoot();
  const child = spawn(process.execPath, ['-r', './test/helpers/ts-register.cjs', script, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', d => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', d => (stderr += d));
  return new Promise((resolvePromise, reject) => {
    const guard = setTimeout(() => {
      stderr += `\n[runTsChild] no exit within ${hangGuardMs} ms: killed\n`;
      child.kill('SIGKILL');
    }, hangGuardMs);
    child.once('error', err => {
      clearTimeout(guard);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}


