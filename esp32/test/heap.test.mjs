// Reports the heap a full batch send takes, with the whole firmware loaded.
// This VM grows its heap on demand and collects garbage only between
// top-level runs, so it cannot show the smallest heap that works: the
// figure below counts every byte allocated during the send, garbage
// included (an upper bound). The smallest heap is measured on the unix
// port by test/heapcap.test.mjs (README, Memory); test_uplink.py checks that a
// heap too small for a full batch sends it in halves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootVM } from './harness.mjs';

test('a full batch goes out without holding its body, with the firmware well inside an ESP32 heap', async (t) => {
  const vm = await bootVM();
  vm.run('import heapsteps\nheapsteps.prepare()');
  vm.run('import gc\ngc.collect()\nheapsteps.R["harness"] = gc.mem_alloc()');
  vm.run('heapsteps.fill()');
  // Live heap between runs: firmware modules + application state.
  vm.run('gc.collect()\nheapsteps.R["loaded"] = gc.mem_alloc()');
  vm.run('heapsteps.send()');
  const r = vm.eval('heapsteps.R');
  assert.equal(r.outcome, 'sent');
  assert.equal(r.readings, 20); // the default batch_size, in one request
  assert.equal(r.left, 0);
  const live = r.loaded - r.harness;
  t.diagnostic(`firmware loaded and running (modules + state): ${live} bytes`);
  t.diagnostic(`allocated by one send of ${r.readings} readings (${r.body_bytes} bytes on the wire), garbage included: ${r.send_alloc} bytes`);
  console.log(`LIVE_HEAP_BYTES=${live}`);
  assert.ok(live < 64 * 1024, `the firmware's live heap ${live} bytes leaves too little of an ESP32's ~100 KB`);
});

test('a signed firmware update goes step by step, one request each, with the firmware and the fleet module inside an ESP32 heap', async (t) => {
  const vm = await bootVM();
  vm.run('import heapsteps, gc\nheapsteps.update_harness()');
  vm.run('gc.collect()\nheapsteps.U["harness"] = gc.mem_alloc()');
  vm.run('heapsteps.update_prepare()');
  vm.run('gc.collect()\nheapsteps.U["loaded"] = gc.mem_alloc()');
  let last;
  for (let i = 0; i < 10; i++) {
    vm.run('heapsteps.update_step()');
    last = vm.eval('heapsteps.U["last"]');
    if (last === 'reboot') break;
    assert.notEqual(last, 'refused');
    vm.run('gc.collect()');
  }
  assert.equal(last, 'reboot', 'the update should end with the release staged and marked');
  const u = vm.eval('{k: v for k, v in heapsteps.U.items() if k in ("steps", "harness", "loaded")}');
  const live = u.loaded - u.harness;
  const peak = Math.max(...u.steps);
  t.diagnostic(`firmware with the fleet module loaded: ${live} bytes live; steps (manifest + signature, files, hashes + marker) allocated ${u.steps.join(', ')} bytes, garbage included`);
  console.log(`UPDATE_STEP_ALLOC_BYTES=${peak}`);
  // ~110 KB on an ESP32 without PSRAM: what is left must still take a batch
  // send (about 22 KB measured on the unix port, see README, Memory).
  assert.ok(live < 80 * 1024, `live heap ${live} bytes with the fleet module loaded leaves too little for a send`);
});
