// thermowatt dashboard: the page's entry module. Plain JavaScript modules,
// no build step: they talk only to the public JSON API (/api/...) with the
// user's reader token, and draw charts with uPlot (vendor/, copied from
// npm by `make build`). quantities.js, the quantities the page shows, is
// not a file here: internal/dashboard writes it from thermowatt.Quantities.
//
// One module per concern: the API calls (api.js), what the page keeps
// (state.js), routes (routes.js), sign-in (signin.js), the device list
// (devicelist.js), a device's page (devicepage.js) with its charts
// (chart.js), energy (energy.js), alert rules (rules.js), open alerts
// (alerts.js) and fleet state (fleet.js).
import { AuthError } from './api.js';
import { fitChartsOnResize, destroyCharts } from './chart.js';
import { addQuantityHeadings, showList } from './devicelist.js';
import { handleDeviceControls, showDevice } from './devicepage.js';
import { $, notice, setConn } from './dom.js';
import { parseRoute } from './routes.js';
import { handleSignIn, showSignIn, takeTokenFromFragment } from './signin.js';
import { state } from './state.js';
import { isScheduled, schedule, stopTimer } from './timer.js';

const LIST_REFRESH_MS = 30e3;
const DEVICE_REFRESH_MS = 60e3;

function route() {
  const next = parseRoute();
  const view = state.view;
  const sameDevice = view && view.name === 'device' && next.name === 'device' && view.id === next.id;
  if (!sameDevice) destroyCharts();
  state.view = next;
  refresh();
}

// refresh shows the view on screen with fresh data, and schedules the
// next refresh; the header says when it last succeeded.
async function refresh() {
  stopTimer();
  const view = state.view;
  try {
    if (view.name === 'device') {
      await showDevice(view);
      schedule(view.range === 'custom' ? DEVICE_REFRESH_MS * 5 : DEVICE_REFRESH_MS, refresh);
    } else {
      await showList();
      schedule(LIST_REFRESH_MS, refresh);
    }
    setConn(new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), false, 'Updated ');
    $('#signout').hidden = !state.token;
  } catch (e) {
    if (e instanceof AuthError) {
      showSignIn(e);
      return;
    }
    setConn('Cannot update: ' + e.message + ' — retrying', true);
    schedule(10e3, refresh);
  }
}

addQuantityHeadings();
handleSignIn(route);
handleDeviceControls();
fitChartsOnResize();

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.view && isScheduled()) refresh(); // catch up when the tab comes back
});

window.addEventListener('hashchange', () => {
  takeTokenFromFragment();
  route();
});

takeTokenFromFragment();
if (typeof window.uPlot !== 'function') {
  notice('The charts library (uPlot) is missing from this build: build with `make build`, which installs it from npm. The device list and CSV download work without it.', true);
}
route();
