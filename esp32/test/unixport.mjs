// Boards on MicroPython's 32-bit unix port with a capped heap: the
// firmware's files as they sit on a board's flash, run by test/unix/board.py
// against a real server over real sockets. The interpreter and mpy-cross
// are MicroPython 1.28's (../shared/tools/micropython/, see its README for
// how they are built); CI has them there.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIRMWARE_DIR } from './harness.mjs';

export const TOOLS = process.env.MICROPYTHON_TOOLS || path.resolve(FIRMWARE_DIR, '..', '..', 'shared', 'tools', 'micropython');
export const MICROPYTHON = path.join(TOOLS, 'micropython-unix32f');
export const MICROPYTHON_TLS = path.join(TOOLS, 'micropython-unix32f-tls');
export const MPY_CROSS = process.env.MPY_CROSS || path.join(TOOLS, 'mpy-cross');

export const HOW_TO_BUILD = `MicroPython's 32-bit unix port is not at ${TOOLS}. Build it from MicroPython v1.28.0 ` +
  '(needs Debian\'s gcc-multilib): make -C mpy-cross; then in ports/unix: make BUILD=build-32fs PROG=micropython32fs ' +
  'MICROPY_FORCE_32BIT=1 CFLAGS_EXTRA=-DMICROPY_FLOAT_IMPL=MICROPY_FLOAT_IMPL_FLOAT LDFLAGS_EXTRA=-static ' +
  'MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_AXTLS=0 MICROPY_PY_FFI=0, and copy the binary to ' +
  `${MICROPYTHON} and mpy-cross to ${MPY_CROSS} (or set MICROPYTHON_TOOLS to their folder).`;

export function toolsPresent() {
  return existsSync(MICROPYTHON) && existsSync(MPY_CROSS);
}

// runner is how this machine starts the 32-bit interpreter: directly where
// the kernel runs 32-bit x86 programs, else under qemu-i386 (Debian's
// qemu-user; .ci/run installs it). Some virtual machines' kernels refuse
// 32-bit programs ("Exec format error") and have no binfmt_misc to hand them
// to qemu. The heap the tests measure is the interpreter's own, the same
// either way; only the wall-clock time differs.
let runnerMemo;
export function runner() {
  if (runnerMemo) return runnerMemo;
  try {
    execFileSync(MICROPYTHON, ['-c', 'pass'], { stdio: 'ignore' });
    runnerMemo = [];
  } catch {
    // (execvp hands a program the kernel refuses to /bin/sh, so the failure
    // shows as a shell's syntax error rather than ENOEXEC.)
    try {
      execFileSync('qemu-i386', [MICROPYTHON, '-c', 'pass'], { stdio: 'ignore' });
    } catch {
      throw new Error(`this machine's kernel cannot run ${MICROPYTHON} (a 32-bit x86 program: ` +
        `Exec format error) and qemu-i386 is not there to run it: apt-get install qemu-user`);
    }
    runnerMemo = ['qemu-i386'];
  }
  return runnerMemo;
}

// interpreter returns [command, ...arguments] that run prog (a 32-bit
// interpreter) with args on this machine.
export function interpreter(prog, args) {
  const r = runner();
  return r.length ? [r[0], [...r.slice(1), prog, ...args]] : [prog, args];
}

// The board's stand-ins for what an ESP32 has built in (test/fakes), and
// the boot driver.
const STAND_INS = ['sim.py', 'machine.py', 'network.py', 'ntptime.py', 'fakedev.py'];

// compileLib writes the firmware's lib/*.py as .mpy files into dst, as
// `make firmware` does for a board.
export function compileLib(dst, src = path.join(FIRMWARE_DIR, 'lib')) {
  mkdirSync(dst, { recursive: true });
  for (const name of readdirSync(src)) {
    if (!name.endsWith('.py')) continue;
    execFileSync(MPY_CROSS, ['-o', path.join(dst, name.replace(/\.py$/, '.mpy')), path.join(src, name)]);
  }
  return dst;
}

// makeBoard lays out a board's flash: main.py, boot.py, lib/ (from libDir:
// .py or .mpy files) and config.json.
export function makeBoard(libDir, config) {
  const root = mkdtempSync(path.join(tmpdir(), 'thermowatt-board-'));
  mkdirSync(path.join(root, 'lib'));
  mkdirSync(path.join(root, '_board'));
  for (const f of ['main.py', 'boot.py']) copyFileSync(path.join(FIRMWARE_DIR, f), path.join(root, f));
  for (const name of readdirSync(libDir)) copyFileSync(path.join(libDir, name), path.join(root, 'lib', name));
  for (const f of STAND_INS) copyFileSync(path.join(FIRMWARE_DIR, 'test', 'fakes', f), path.join(root, '_board', f));
  copyFileSync(path.join(FIRMWARE_DIR, 'test', 'unix', 'board.py'), path.join(root, '_board', 'board.py'));
  writeFileSync(path.join(root, 'config.json'), JSON.stringify(config));
  return root;
}

// boot runs the board once (a power-on): heap is what the firmware gets,
// trueMs the wall-clock time at power-on (the RTC starts unset, NTP tells
// it), runMs how long the board runs (simulated) unless it resets first.
// Returns {outcome: 'running' | 'reset' | 'MemoryError' | ..., trueMs, out}.
export function boot(root, { heap, trueMs, runMs, wifiDownMs = 0, tls = false }) {
  writeFileSync(path.join(root, '_board', 'plan.json'), JSON.stringify({ heap, true_ms: trueMs, run_ms: runMs, wifi_down_ms: wifiDownMs }));
  // The interpreter's own heap holds the stand-ins too; board.py gives the
  // firmware exactly `heap` bytes and sets the rest aside. Asynchronous, so
  // that endpoints this process serves (a TLS front) answer meanwhile.
  const [cmd, args] = interpreter(tls ? MICROPYTHON_TLS : MICROPYTHON,
    ['-X', `heapsize=${heap + 96 * 1024}`, path.join(root, '_board', 'board.py'), root]);
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (b) => { out += b; });
  p.stderr.on('data', (b) => { out += b; });
  const timer = setTimeout(() => p.kill('SIGKILL'), 120000);
  return new Promise((resolve, reject) => {
    p.on('close', (code) => {
      clearTimeout(timer);
      const m = /BOARD outcome=(\S+) true_ms=(\d+)/.exec(out);
      if (!m) reject(new Error(`the board did not finish its boot (status ${code}):\n${out.slice(-3000)}`));
      else resolve({ outcome: m[1], trueMs: Number(m[2]), out });
    });
  });
}

export function readBoard(root, p) {
  try { return readFileSync(path.join(root, p), 'utf8'); } catch { return null; }
}

export function boardJSON(root, p) {
  const t = readBoard(root, p);
  return t === null ? null : JSON.parse(t);
}
