// Runs the Python test modules test/py/test_*.py inside the MicroPython
// WebAssembly VM: one fresh VM (a fresh "device") per test function.
import { test, describe } from 'node:test';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { bootVM } from './harness.mjs';

const pyDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');
const modules = readdirSync(pyDir).filter((f) => /^test_.*\.py$/.test(f)).sort().map((f) => f.slice(0, -3))
  .filter((m) => !process.env.PYTEST_MODULE || m === process.env.PYTEST_MODULE);

for (const mod of modules) {
  const vm = await bootVM();
  const names = vm.eval(`[n for n in dir(__import__('${mod}')) if n.startswith('test_')]`);
  describe(mod, () => {
    for (const name of names.sort()) {
      test(name, async (t) => {
        const dev = await bootVM();
        dev.run(`import ${mod}\n${mod}.${name}()`);
        // Figures a test wants in the summary (e.g. the peak heap).
        for (const l of dev.out) if (l.startsWith('REPORT ')) t.diagnostic(l.slice(7));
      });
    }
  });
}
