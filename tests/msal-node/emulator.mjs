// Starts graphgate-emulator (the binary cargo built) on a free loopback port for a test, and stops it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function emulatorBinary() {
  const dir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  return join(dir, 'debug', 'graphgate-emulator');
}

/** Starts the emulator; resolves to { base, caFile, stop }. */
export async function startEmulator() {
  const dir = mkdtempSync(join(tmpdir(), 'graphgate-emu-'));
  const caFile = join(dir, 'ca.pem');
  const child = spawn(emulatorBinary(), ['--listen', '127.0.0.1:0', '--ca-out', caFile, '--control'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`the emulator did not start: ${out}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (https:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`the emulator exited (${code}): ${out}`)));
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { base, caFile, stop };
}
