// A test-only view of the dashboard's charts, which production does not
// ship: the page keeps its uPlot charts to itself, so page() installs this
// script in every test page before the page's own scripts run (Playwright's
// addInitScript). It wraps the global uPlot that vendor/uPlot.iife.min.js
// defines, remembering each chart made, and window.probe.charts then maps
// each chart on screen (its .chart box's data-metric) to its uPlot
// instance: its data, scales and axes, as the tests read them.
export function chartsProbe() {
  let wrapped;
  const made = [];
  Object.defineProperty(window, 'uPlot', {
    configurable: true,
    get() { return wrapped; },
    set(uPlot) {
      wrapped = function (...args) {
        const u = new uPlot(...args);
        made.push(u);
        return u;
      };
      Object.setPrototypeOf(wrapped, uPlot); // uPlot.rangeNum and the other statics
      wrapped.prototype = uPlot.prototype;
    },
  });
  window.probe = {
    get charts() {
      const onScreen = {};
      for (const u of made) {
        const box = u.root.isConnected && u.root.closest('.chart');
        if (box) onScreen[box.dataset.metric] = u;
      }
      return onScreen;
    },
  };
}
