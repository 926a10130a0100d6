// thermowatt dashboard. Plain JavaScript, no build step: it talks only to
// the public JSON API (/api/...) with the user's reader token, and draws
// charts with uPlot (vendor/, copied from npm by `make build`).
//
// Routes live in the URL fragment: #/ is the device list, #/device/ID the
// charts of one device (?range=24h, or ?from=...&to=... for a custom range).
// #token=... signs in and is then removed from the address bar; a fragment
// is never sent to the server, so the token stays out of its logs.
'use strict';

(function () {
  const TOKEN_KEY = 'thermowatt.token';
  const LIST_REFRESH_MS = 30e3;
  const DEVICE_REFRESH_MS = 60e3;
  const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
  const DEFAULT_RANGE = '24h';
  // The device page's energy bars cover at least this much (the page's
  // range when longer), one bar per day.
  const ENERGY_MIN_RANGE = 30 * 86400e3;
  // The device list asks for today's energy of at most this many devices
  // (the first rows), this many requests at a time, so that a large fleet
  // costs the server a bounded amount of work per refresh.
  const ENERGY_LIST_MAX = 50;
  const ENERGY_CONCURRENCY = 4;
  // Every chartable field of a reading, as the series endpoint names it.
  // `always`: drawn even without data (the power metrics every node has); the others
  // only when the range holds some.
  const METRICS = [
    { key: 'temperature', label: 'Temperature', unit: '°C', digits: 1, color: '#dc2626', always: true },
    { key: 'voltage_v', label: 'Voltage', unit: 'V', digits: 3, color: '#2563eb', always: true },
    { key: 'current_ma', label: 'Current', unit: 'mA', digits: 1, color: '#7c3aed', always: true },
    { key: 'power_mw', label: 'Power', unit: 'mW', digits: 1, color: '#d97706', always: true },
    { key: 'pressure_hpa', label: 'Pressure', unit: 'hPa', digits: 1, color: '#0891b2' },
    { key: 'humidity', label: 'Humidity', unit: '%', digits: 1, color: '#059669' },
  ];

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) e.append(c);
    return e;
  };

  // What tests (web/tests) read: the uPlot instance of each chart.
  const exposed = { charts: {}, refreshes: 0, energy: null, thresholds: {} };
  window.thermowatt = exposed;

  let token = localStorage.getItem(TOKEN_KEY) || '';
  let timer = 0;
  let alertsSupported = true;
  let rulesSupported = true;
  // thresholds are the alert rules' thresholds per chart metric, drawn
  // across the chart: [{value, firing}] (rules below).
  let thresholds = {};
  let view = null; // what is on screen: {name:'list'} or {name:'device', id, range, from, to}
  let charts = {}; // metric key -> {u, box}
  // Energy buckets follow the browser's calendar; a zone the server cannot
  // bucket by (unknown to it, or not a whole number of hours from UTC) is
  // replaced by UTC for the rest of the visit.
  let energyTZ = browserZone();
  let energySupported = true;
  const todayShown = new Map(); // device id -> its Today cell's last text, kept through refreshes

  // --- API ---------------------------------------------------------------

  class AuthError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, accept) {
    const headers = { Accept: accept || 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      throw new Error('the server cannot be reached (' + e.message + ')');
    }
    if (res.status === 401 || res.status === 403) {
      let msg = '';
      try { msg = (await res.json()).error || ''; } catch (e) { /* not JSON */ }
      throw new AuthError(res.status, msg);
    }
    return res;
  }

  async function getJSON(path) {
    const res = await api(path);
    if (!res.ok) {
      let msg = res.statusText;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      const err = new Error(res.status + ': ' + msg);
      err.status = res.status;
      throw err;
    }
    return res.json();
  }

  // --- sign-in -----------------------------------------------------------

  function takeTokenFromFragment() {
    const m = location.hash.match(/^#token=([^&]+)/);
    if (!m) return;
    token = decodeURIComponent(m[1]);
    localStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search + '#/');
  }

  function showSignIn(err) {
    stopTimer();
    hideViews();
    const why = $('#signin-why');
    why.classList.toggle('error', Boolean(token) || (err && err.status === 403));
    if (err && err.status === 403) {
      why.textContent = 'This token may not read the dashboard (' + (err.message || 'forbidden') +
        '). A device token can only send readings: paste a reader or admin token.';
    } else if (token) {
      why.textContent = 'The saved token was refused: ' + (err && err.message ? err.message : 'invalid or revoked token') +
        '. Paste a valid reader token.';
    } else {
      why.textContent = 'This server needs a reader token to show its data.';
    }
    if (token) {
      token = '';
      localStorage.removeItem(TOKEN_KEY);
    }
    $('#signout').hidden = true;
    $('#signin').hidden = false;
    $('#token').focus();
  }

  $('#signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('#token').value.trim();
    $('#token').value = '';
    localStorage.setItem(TOKEN_KEY, token);
    $('#signin').hidden = true;
    route();
  });

  $('#signout').addEventListener('click', () => {
    token = '';
    localStorage.removeItem(TOKEN_KEY);
    location.hash = '#/';
    route();
  });

  // --- helpers -------------------------------------------------------------

  function fmt(v, digits) {
    return v == null ? '–' : v.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function withUnit(v, m) {
    const span = el('span', {}, fmt(v, m.digits));
    if (v != null) span.append(el('span', { className: 'unit' }, m.unit));
    return span;
  }

  function ago(iso) {
    if (!iso) return 'never';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return Math.round(s) + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return (s / 3600).toFixed(s < 36000 ? 1 : 0) + ' h ago';
    return (s / 86400).toFixed(s < 864000 ? 1 : 0) + ' d ago';
  }

  function localTime(iso) {
    return iso ? new Date(iso).toLocaleString() : '';
  }

  // status is the server's verdict when it gives one (ops: ok / silent /
  // failing / new); otherwise the browser's guess from the last-seen time,
  // with the same rule (three missed intervals), marked as a guess.
  function statusOf(d) {
    if (d.status) return { text: d.status, guess: false };
    if (!d.lastSeenAt) return { text: 'new', guess: true };
    const interval = (d.expectedIntervalS || 300) * 1000;
    const silent = Date.now() - Date.parse(d.lastSeenAt) > 3 * interval;
    return { text: silent ? 'silent' : 'ok', guess: true };
  }

  function statusBadge(d) {
    const s = statusOf(d);
    const b = el('span', { className: 'status ' + s.text + (s.guess ? ' guess' : '') }, s.text);
    if (s.guess) b.title = 'estimated by the browser from the last-seen time';
    return b;
  }

  // setConn shows the connection state; label is a prefix a phone-width
  // screen leaves out (CSS) to keep the header on one line.
  function setConn(text, error, label) {
    const c = $('#conn');
    c.replaceChildren(el('span', { className: 'label' }, label || ''), text);
    c.classList.toggle('error', Boolean(error));
  }

  function notice(text, error) {
    const n = $('#notice');
    n.hidden = !text;
    n.textContent = text || '';
    n.classList.toggle('error', Boolean(error));
  }

  function hideViews() {
    $('#list').hidden = true;
    $('#device').hidden = true;
    $('#alerts').hidden = true;
  }

  function stopTimer() {
    clearTimeout(timer);
    timer = 0;
  }

  function schedule(ms) {
    stopTimer();
    timer = setTimeout(() => {
      if (document.hidden) { schedule(ms); return; } // no polling in a background tab
      refresh();
    }, ms);
  }

  // --- routing -------------------------------------------------------------

  function parseRoute() {
    const h = location.hash.replace(/^#/, '') || '/';
    const [path, query] = h.split('?');
    const params = new URLSearchParams(query || '');
    const m = path.match(/^\/device\/(.+)$/);
    if (!m) return { name: 'list' };
    const v = { name: 'device', id: decodeURIComponent(m[1]), range: params.get('range') || DEFAULT_RANGE };
    const from = Date.parse(params.get('from') || ''), to = Date.parse(params.get('to') || '');
    if (!Number.isNaN(from) && !Number.isNaN(to) && from < to) {
      v.range = 'custom';
      v.from = from;
      v.to = to;
    } else if (!RANGES[v.range]) {
      v.range = DEFAULT_RANGE;
    }
    return v;
  }

  function deviceHash(id, params) {
    return '#/device/' + encodeURIComponent(id) + (params ? '?' + new URLSearchParams(params) : '');
  }

  function route() {
    const next = parseRoute();
    const sameDevice = view && view.name === 'device' && next.name === 'device' && view.id === next.id;
    if (!sameDevice) destroyCharts();
    view = next;
    refresh();
  }

  async function refresh() {
    stopTimer();
    try {
      if (view.name === 'device') {
        await showDevice(view);
        schedule(view.range === 'custom' ? DEVICE_REFRESH_MS * 5 : DEVICE_REFRESH_MS);
      } else {
        await showList();
        schedule(LIST_REFRESH_MS);
      }
      exposed.refreshes++;
      document.body.dataset.loaded = String(exposed.refreshes);
      setConn(new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), false, 'Updated ');
      $('#signout').hidden = !token;
    } catch (e) {
      if (e instanceof AuthError) {
        showSignIn(e);
        return;
      }
      setConn('Cannot update: ' + e.message + ' — retrying', true);
      schedule(10e3);
    }
  }

  // --- device list ------------------------------------------------------------

  async function showList() {
    const [devs, alerts] = await Promise.all([getJSON('/api/devices'), loadAlerts()]);
    // The newest reading of each device, for its latest values.
    const latest = await Promise.all(devs.items.map((d) =>
      getJSON('/api/measurements?limit=1&deviceId=' + encodeURIComponent(d.id))
        .then((r) => r.items[0] || null, () => null)));
    hideViews();
    renderAlerts(alerts);
    const tbody = $('#devices tbody');
    const rows = devs.items.map((d, i) => deviceRow(d, latest[i]));
    tbody.replaceChildren(...rows);
    // Beyond the first ENERGY_LIST_MAX rows today's energy is not asked for.
    for (const tr of rows.slice(ENERGY_LIST_MAX)) tr.querySelector('.energy-today').replaceChildren('–');
    $('#devices').hidden = devs.items.length === 0;
    $('#no-devices').hidden = devs.items.length !== 0;
    $('#list-updated').textContent = devs.items.length + (devs.items.length === 1 ? ' device' : ' devices');
    $('#list').hidden = false;
    document.title = 'thermowatt';
    if (!energySupported) {
      for (const tr of rows) tr.querySelector('.energy-today').replaceChildren('–');
      return;
    }
    await todaysEnergy(rows.map((tr) => ({ id: tr.dataset.device, cell: tr.querySelector('.energy-today') })));
  }

  // The fleet columns: what the device runs, the settings revision it
  // applied against the one it should, and its last update, each as the
  // device reported it (a dash for what it never said).
  function firmwareText(d, health) {
    const fw = d.firmware !== undefined ? d.firmware : health.firmware;
    return fw == null ? '–' : String(fw);
  }

  function settingsText(d) {
    const s = d.settingsRev;
    if (!s) return '–';
    const applied = s.applied == null ? '–' : String(s.applied);
    const text = applied + '/' + s.desired;
    const pending = s.applied !== s.desired && s.desired > 0;
    const span = el('span', { className: pending ? 'pending' : '' }, text);
    span.title = pending ? 'applied / desired revision: the device has not applied the latest settings yet' : 'applied / desired revision';
    return span;
  }

  function updateText(d) {
    const u = d.update;
    if (!u || !u.state) return '–';
    const text = u.state + (u.version ? ' ' + u.version : '');
    const span = el('span', { className: 'update ' + u.state }, text);
    if (u.reason) span.title = String(u.reason);
    return span;
  }

  // deviceLink opens a device on the default range, or, when its newest
  // reading is older than that range (a device long silent, or one whose
  // readings were backfilled), on the same span ending at that reading:
  // never on empty charts.
  function deviceLink(d, r) {
    const newest = Date.parse((r && r.recordedAt) || d.lastSeenAt || '');
    const span = RANGES[DEFAULT_RANGE];
    if (Number.isNaN(newest) || Date.now() - newest <= span) return deviceHash(d.id);
    return deviceHash(d.id, { from: new Date(newest - span).toISOString(), to: new Date(newest + 60e3).toISOString() });
  }

  function deviceRow(d, r) {
    // Health: the server's latest (ops: d.health), else what the newest
    // reading carried in payload.device (the firmware sends it).
    const health = d.health || (r && r.payload && r.payload.device) || {};
    const cell = (label, content, cls) => {
      const td = el('td', { className: cls || '' }, content);
      td.dataset.label = label;
      return td;
    };
    const link = el('a', { href: deviceLink(d, r) }, d.id);
    const seen = el('span', { title: localTime(d.lastSeenAt) }, ago(d.lastSeenAt));
    const v = (k) => (r ? r[k] : null);
    const tr = el('tr', {},
      cell('Device', link, 'id'),
      cell('Status', statusBadge(d)),
      cell('Last seen', seen),
      cell('Temperature', withUnit(v('temperature'), METRICS[0]), 'num'),
      cell('Voltage', withUnit(v('voltage_v'), METRICS[1]), 'num'),
      cell('Current', withUnit(v('current_ma'), METRICS[2]), 'num'),
      cell('Power', withUnit(v('power_mw'), METRICS[3]), 'num'),
      cell('Today', todayShown.get(d.id) || '…', 'num energy-today'),
      cell('Queue', health.queue_depth == null ? '–' : String(health.queue_depth), 'num'),
      cell('Dropped', health.dropped == null ? '–' : String(health.dropped), 'num'),
      cell('Firmware', firmwareText(d, health)),
      cell('Settings', settingsText(d)),
      cell('Update', updateText(d)));
    tr.dataset.device = d.id;
    tr.addEventListener('click', (ev) => {
      if (ev.target.tagName !== 'A') location.hash = deviceHash(d.id);
    });
    return tr;
  }

  // loadAlerts returns open alerts, or null when this server has no alerts
  // endpoint (an older version): then the panel is simply not shown.
  async function loadAlerts() {
    if (!alertsSupported) return null;
    try {
      return (await getJSON('/api/alerts?state=open')).items || [];
    } catch (e) {
      // 401: the token is bad, which the other requests report too. 403:
      // this token may read devices but not alerts; show the rest.
      if (e instanceof AuthError && e.status === 401) throw e;
      if (e.status === 403 || e.status === 404 || e.status === 405) alertsSupported = false;
      return null;
    }
  }

  function renderAlerts(items, deviceId) {
    const box = $('#alerts');
    const open = (items || []).filter((a) => !a.resolvedAt && (!deviceId || a.deviceId === deviceId));
    box.hidden = items == null || open.length === 0;
    $('#alert-count').textContent = open.length ? '(' + open.length + ')' : '';
    $('#alert-list').replaceChildren(...open.map((a) => el('li', {},
      el('span', { className: 'status ' + (a.kind || 'failing') }, a.kind || 'alert'),
      el('a', { href: deviceHash(a.deviceId) }, a.deviceId),
      el('span', {}, a.message || ''),
      el('span', { className: 'when', title: localTime(a.openedAt) }, 'since ' + ago(a.openedAt)))));
  }

  // --- alert rules on the device page ---------------------------------------

  // loadRules returns the alert rules watching device id with its states,
  // or null when this server or token cannot list them (the panel hides).
  async function loadRules(id) {
    if (!rulesSupported) return null;
    try {
      const items = (await getJSON('/api/alert-rules?deviceId=' + encodeURIComponent(id))).items || [];
      return items.filter((r) => r.all || r.devices.includes(id));
    } catch (e) {
      if (e instanceof AuthError && e.status === 401) throw e;
      if (e.status === 403 || e.status === 404 || e.status === 405) rulesSupported = false;
      return null;
    }
  }

  // isRate: a rate rule's threshold is a change over its window, not a
  // value: it is not drawn across the value's chart.
  function isRate(r) {
    return !!r.rateOver && r.rateOver !== '0s';
  }

  function ruleText(r) {
    const m = METRICS.find((x) => x.key === r.metric);
    const unit = m ? ' ' + m.unit : (r.metric.startsWith('energy') ? ' Wh' : '');
    const rate = isRate(r) ? ' rate' : '';
    const over = isRate(r) ? ' over ' + r.rateOver : '';
    return r.metric + rate + ' ' + r.comparison + ' ' + r.threshold + unit + over + (r.for !== '0s' ? ' for ' + r.for : '') +
      (r.hysteresis ? ' (hysteresis ' + r.hysteresis + ')' : '');
  }

  function renderRules(rules, id) {
    $('#rules').hidden = !rules || rules.length === 0;
    thresholds = {};
    $('#rule-list').replaceChildren(...(rules || []).map((r) => {
      const st = r.states.find((x) => x.deviceId === id) || {};
      if (!isRate(r)) (thresholds[r.metric] = thresholds[r.metric] || []).push({ value: r.threshold, firing: !!st.firing });
      let state = el('span', { className: 'status ok' }, 'ok');
      if (st.firing) state = el('span', { className: 'status value' }, 'firing');
      else if (st.pendingSince) state = el('span', { className: 'status silent', title: localTime(st.pendingSince) }, 'crossing since ' + ago(st.pendingSince));
      const li = el('li', {}, state, el('span', {}, ruleText(r)), el('span', { className: 'when' }, r.severity + (r.message ? ' · ' + r.message : '')));
      if (st.lastAt) li.append(el('span', { className: 'when', title: localTime(st.lastAt) }, (isRate(r) ? 'last change ' : 'last ') + fmt(st.lastValue, 2) + ' ' + ago(st.lastAt)));
      li.dataset.rule = String(r.id);
      li.dataset.state = st.firing ? 'firing' : st.pendingSince ? 'crossing' : 'ok';
      return li;
    }));
    exposed.thresholds = thresholds;
  }

  // drawThresholds draws each rule's threshold across a chart, dashed: red
  // while the rule fires for this device, grey otherwise.
  function drawThresholds(u, key) {
    const ctx = u.ctx;
    for (const t of thresholds[key] || []) {
      const y = u.valToPos(t.value, 'y', true);
      if (!Number.isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
      ctx.save();
      ctx.strokeStyle = t.firing ? '#dc2626' : '#6b7280';
      ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
      ctx.setLineDash([6 * (window.devicePixelRatio || 1), 4 * (window.devicePixelRatio || 1)]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    }
  }

  // yRange is uPlot's own y range (snapNumY: 10 % padding, [null, null]
  // without data), widened to show the rules' thresholds.
  function yRange(key) {
    return (u, min, max) => {
      for (const t of thresholds[key] || []) {
        if (min == null || t.value < min) min = t.value;
        if (max == null || t.value > max) max = t.value;
      }
      if (min == null) return [null, null];
      return window.uPlot.rangeNum(min, max, 0.1, true);
    };
  }

  // --- device view --------------------------------------------------------------

  function rangeOf(v) {
    if (v.range === 'custom') return { from: v.from, to: v.to };
    const to = Date.now();
    return { from: to - RANGES[v.range], to };
  }

  // CA rotation (docs/fleet.md): the CA the device verifies the server
  // with and the one waiting to take over, by the first 12 hex digits of
  // their sha256 (whole in the tooltip); nothing when it reports none.
  function caText(d) {
    const ca = d.ca;
    if (!ca) return [];
    const short = (fp) => (fp ? fp.slice(0, 12) : '?');
    const text = 'CA ' + short(ca.active) + (ca.waiting ? ', new CA ' + short(ca.waiting) + ' waiting' : '');
    const title = 'sha256 of the CA it verifies the server with: ' + (ca.active || 'not reported') +
      (ca.waiting ? '\nwaiting to take over after its first verified send: ' + ca.waiting : '');
    return [' · ', el('span', { className: 'updated ca', title }, text)];
  }

  async function showDevice(v) {
    const { from, to } = rangeOf(v);
    const q = 'deviceId=' + encodeURIComponent(v.id) + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
    const energyFrom = Math.min(from, to - ENERGY_MIN_RANGE);
    const [devs, series, alerts, energy, rules] = await Promise.all([
      getJSON('/api/devices'),
      getJSON('/api/measurements/series?' + q).catch((e) => {
        if (e.status === 404) return null; // unknown device
        throw e;
      }),
      loadAlerts(),
      // The bars are extra: a failure shows in their place, not instead of
      // the charts.
      loadEnergy(v.id, energyFrom, to, 'day').catch((e) => {
        if (e instanceof AuthError) throw e;
        return { error: e.message };
      }),
      loadRules(v.id),
    ]);
    if (view !== v) return; // the user moved on meanwhile
    hideViews();
    const d = devs.items.find((x) => x.id === v.id);
    $('#device-title').textContent = v.id;
    document.title = v.id + ' · thermowatt';
    $('#device-status').replaceChildren(...(d ? [statusBadge(d), ' ', el('span', { className: 'updated', title: localTime(d.lastSeenAt) }, 'last seen ' + ago(d.lastSeenAt)), ...caText(d)] : []));
    for (const b of document.querySelectorAll('.ranges button')) {
      b.setAttribute('aria-pressed', String(b.dataset.range === v.range));
    }
    $('#custom').hidden = v.range !== 'custom';
    if (v.range === 'custom') {
      $('#custom-from').value = toLocalInput(from);
      $('#custom-to').value = toLocalInput(to);
    }
    $('#device').hidden = false;
    renderAlerts(alerts, v.id);
    renderRules(series ? rules : null, v.id);
    renderEnergy(series ? energy : null);
    if (!series) {
      destroyCharts();
      $('#charts').replaceChildren(el('p', { className: 'empty' }, 'No device "' + v.id + '". ', el('a', { href: '#/' }, 'Back to the list')));
      $('#range-info').textContent = '';
      return;
    }
    const points = series.points;
    const readings = points.reduce((n, p) => n + p.count, 0);
    $('#range-info').textContent = new Date(from).toLocaleString() + ' – ' + new Date(to).toLocaleString() +
      ' · ' + plural(readings, 'reading') + ' in ' + plural(points.length, 'point') + ' of ' + bucketText(series.bucketSeconds) +
      ' (average line, min–max band)';
    if (typeof window.uPlot !== 'function') return; // the notice at the top says why
    drawCharts(points, series.bucketSeconds, from, to);
  }

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch (e) {
      return 'UTC';
    }
  }

  // loadEnergy asks for one device's energy per bucket in energyTZ,
  // falling back to UTC once when the server refuses the zone. It answers
  // null when the server has no energy endpoint (an older version).
  async function loadEnergy(id, from, to, bucket) {
    if (!energySupported) return null;
    const q = (tz) => '/api/measurements/energy?deviceId=' + encodeURIComponent(id) + '&bucket=' + bucket +
      '&tz=' + encodeURIComponent(tz) + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
    const tz = energyTZ; // requests in flight together may all meet the refusal
    try {
      return await getJSON(q(tz));
    } catch (e) {
      if (e.status === 400 && tz !== 'UTC' && /\btz=/.test(e.message)) {
        energyTZ = 'UTC';
        return getJSON(q('UTC'));
      }
      if (e.status === 404 && /no such endpoint/.test(e.message)) {
        energySupported = false;
        return null;
      }
      throw e;
    }
  }

  // energyText formats watt-hours, in kWh from 10 kWh on.
  function energyText(wh) {
    if (wh == null) return '–';
    return Math.abs(wh) >= 10000 ? fmt(wh / 1000, 2) + ' kWh' : fmt(wh, Math.abs(wh) >= 100 ? 0 : 1) + ' Wh';
  }

  // todaysEnergy fills the Today cell of each listed row: today's
  // watt-hours in energyTZ, '–' when unknown. from is a second before now:
  // the server widens it to the start of its day, in the zone it uses.
  async function todaysEnergy(rows) {
    const now = Date.now();
    const queue = rows.slice(0, ENERGY_LIST_MAX);
    const worker = async () => {
      for (let row = queue.shift(); row; row = queue.shift()) {
        let item = null;
        try {
          const ans = await loadEnergy(row.id, now - 1000, now, 'day');
          item = ans && ans.items.length ? ans.items[ans.items.length - 1] : null;
        } catch (e) {
          if (e instanceof AuthError) throw e;
        }
        const cell = row.cell;
        if (!item || item.coverage === 0) {
          cell.replaceChildren('–');
          cell.title = 'no power readings today';
          todayShown.set(row.id, '–');
          continue;
        }
        todayShown.set(row.id, energyText(item.wh));
        cell.replaceChildren(energyText(item.wh));
        cell.dataset.wh = String(item.wh);
        const start = Date.parse(item.start);
        const elapsed = Math.max(1, now - start);
        const dayLength = nextDay(start) - start;
        const share = Math.min(1, item.coverage * dayLength / elapsed);
        cell.title = 'since ' + new Date(start).toLocaleString() + (share < 0.995 ? ' · readings cover ' + Math.round(share * 100) + ' % of it' : '');
      }
    };
    await Promise.all(Array.from({ length: ENERGY_CONCURRENCY }, worker));
  }

  // nextDay is the start of the next calendar day after the day starting at
  // ms, in the browser's zone (23 or 25 hours away across a DST change).
  function nextDay(ms) {
    const d = new Date(ms);
    return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
  }

  function plural(n, word) {
    return n.toLocaleString() + ' ' + word + (n === 1 ? '' : 's');
  }

  function bucketText(s) {
    if (s % 86400 === 0) return s / 86400 + ' d';
    if (s % 3600 === 0) return s / 3600 + ' h';
    if (s % 60 === 0) return s / 60 + ' min';
    return s + ' s';
  }

  function toLocalInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
    return d.toISOString().slice(0, 16);
  }

  // columns turns the series into uPlot's columnar data [x, avg, min, max]
  // per metric, with a null inserted wherever readings stop for longer than
  // the data's usual spacing, so that uPlot (spanGaps false) draws an
  // outage as a gap instead of a line across it. The usual spacing is the
  // median distance between points: the bucket when the device reports
  // more often than that, the device's interval when it reports less often.
  // A gap must exceed 2.5 times it, so one missed reading or a bucket left
  // empty by clock jitter does not cut the line.
  function columns(points, bucketS) {
    const xs = points.map((p) => Date.parse(p.time) / 1000);
    const deltas = xs.slice(1).map((x, i) => x - xs[i]).sort((a, b) => a - b);
    // The lower median: with few points (say three around one outage)
    // the shorter spacing is the usual one.
    const usual = Math.max(bucketS, deltas.length ? deltas[Math.floor((deltas.length - 1) / 2)] : bucketS);
    const gapAfter = new Set();
    for (let i = 1; i < xs.length; i++) {
      if (xs[i] - xs[i - 1] > 2.5 * usual) gapAfter.add(i - 1);
    }
    const x = [];
    const data = {};
    for (const m of METRICS) data[m.key] = { avg: [], min: [], max: [], any: false };
    points.forEach((p, i) => {
      x.push(xs[i]);
      for (const m of METRICS) {
        const s = p[m.key], d = data[m.key];
        d.avg.push(s ? s.avg : null);
        d.min.push(s ? s.min : null);
        d.max.push(s ? s.max : null);
        if (s && s.avg != null) d.any = true;
      }
      if (gapAfter.has(i)) {
        x.push(xs[i] + bucketS); // the first empty bucket
        for (const m of METRICS) {
          data[m.key].avg.push(null);
          data[m.key].min.push(null);
          data[m.key].max.push(null);
        }
      }
    });
    return { x, data };
  }

  // renderEnergy draws one bar per day. A day whose readings do not cover
  // it all is drawn faded (its Wh is only the covered part), a day without
  // any as a grey stub; hovering a bar tells its day, Wh and coverage.
  function renderEnergy(ans) {
    const box = $('#energy');
    exposed.energy = ans && ans.items ? ans.items : null;
    box.hidden = !ans;
    if (!ans) return;
    const note = $('#energy-note');
    const svg = $('#energy-bars');
    if (ans.error) {
      svg.replaceChildren();
      $('#energy-total').textContent = '';
      $('#energy-first').textContent = $('#energy-max').textContent = $('#energy-last').textContent = '';
      note.textContent = 'Energy is not available: ' + ans.error;
      return;
    }
    const items = ans.items;
    const known = items.filter((it) => it.coverage > 0);
    const max = Math.max(0, ...known.map((it) => it.wh));
    const total = known.reduce((n, it) => n + it.wh, 0);
    const SLOT = 10, H = 100;
    svg.setAttribute('viewBox', '0 0 ' + Math.max(1, items.length * SLOT) + ' ' + H);
    const ns = 'http://www.w3.org/2000/svg';
    // A day's start is midnight in the zone the server used: the browser's,
    // or UTC when it fell back.
    const dayOpts = { weekday: 'short', month: 'short', day: 'numeric' };
    if (ans.tz === 'UTC') dayOpts.timeZone = 'UTC';
    const dayText = (it) => new Date(Date.parse(it.start)).toLocaleDateString(undefined, dayOpts);
    svg.replaceChildren(...items.map((it, i) => {
      const r = document.createElementNS(ns, 'rect');
      const h = it.coverage === 0 ? 1.5 : max > 0 ? Math.max(1.5, (Math.max(0, it.wh) / max) * (H - 2)) : 1.5;
      r.setAttribute('x', String(i * SLOT + 1));
      r.setAttribute('width', String(SLOT - 2));
      r.setAttribute('y', String(H - h));
      r.setAttribute('height', String(h));
      r.setAttribute('class', 'bar' + (it.coverage === 0 ? ' unknown' : it.coverage < 0.995 ? ' partial' : ''));
      r.dataset.start = it.start;
      r.dataset.wh = String(it.wh);
      r.dataset.coverage = String(it.coverage);
      const title = document.createElementNS(ns, 'title');
      title.textContent = dayText(it) + ': ' + (it.coverage === 0 ? 'no power readings' :
        energyText(it.wh) + (it.coverage < 0.995 ? ' over ' + Math.round(it.coverage * 100) + ' % of the day (the rest has no readings)' : ''));
      r.append(title);
      return r;
    }));
    const zone = ans.tz === 'UTC' ? ' (UTC days)' : '';
    $('#energy-title').textContent = 'Energy per day' + zone;
    $('#energy-total').textContent = known.length ? 'total ' + energyText(total) : '';
    $('#energy-first').textContent = items.length ? dayText(items[0]) : '';
    $('#energy-max').textContent = max > 0 ? 'highest ' + energyText(max) : '';
    $('#energy-last').textContent = items.length ? dayText(items[items.length - 1]) : '';
    note.textContent = known.length ? 'Faded: days readings cover only in part (their energy counts that part only); grey: no power readings.' :
      'No power readings in these days.';
  }

  function destroyCharts() {
    for (const k of Object.keys(charts)) charts[k].u.destroy();
    charts = {};
    exposed.charts = {};
    $('#charts').replaceChildren();
  }

  function chartWidth(box) {
    return Math.max(200, box.clientWidth - 8);
  }

  function drawCharts(points, bucketS, from, to) {
    const { x, data } = columns(points, bucketS);
    const wanted = METRICS.filter((m) => m.always || data[m.key].any);
    if (Object.keys(charts).join() !== wanted.map((m) => m.key).join()) destroyCharts();
    const container = $('#charts');
    for (const m of wanted) {
      const d = data[m.key];
      const cols = [x, d.avg, d.min, d.max];
      let c = charts[m.key];
      if (!c) {
        const title = el('h3', {}, el('span', {}, m.label + ' (' + m.unit + ')'), el('span', { className: 'latest' }));
        const plot = el('div', { className: 'plot' });
        const nodata = el('p', { className: 'nodata' }, 'No ' + m.label.toLowerCase() + ' in this range.');
        const box = el('div', { className: 'chart' }, title, plot, nodata);
        box.dataset.metric = m.key;
        container.append(box);
        const win = { from, to };
        const u = new window.uPlot(chartOptions(m, chartWidth(box), win), cols, plot);
        c = charts[m.key] = { u, box, win };
        exposed.charts[m.key] = u;
      } else {
        // A chart the user zoomed into (dragged across) stays zoomed
        // through refreshes; double click zooms back out to the range.
        const sx = c.u.scales.x;
        const zoomed = sx.min != null && (Math.abs(sx.min - c.win.from / 1000) > 1 || Math.abs(sx.max - c.win.to / 1000) > 1);
        c.win.from = from;
        c.win.to = to;
        c.u.setData(cols, !zoomed);
      }
      let last = null;
      for (let i = d.avg.length - 1; i >= 0; i--) if (d.avg[i] != null) { last = d.avg[i]; break; }
      c.box.querySelector('.latest').textContent = last == null ? '' : 'latest ' + fmt(last, m.digits) + ' ' + m.unit;
      c.box.querySelector('.nodata').hidden = d.any;
      c.box.dataset.points = String(d.avg.filter((v) => v != null).length);
    }
  }

  // win is the requested range, read again by uPlot on every setData.
  function chartOptions(m, width, win) {
    const value = (u, v) => (v == null ? '–' : fmt(v, m.digits) + ' ' + m.unit);
    const band = m.color + '26'; // the colour at 15 % opacity
    return {
      width,
      height: 220,
      cursor: { y: false, sync: { key: 'thermowatt' }, drag: { x: true, y: false } },
      scales: {
        // Unzoomed, the x axis spans the requested range, so a device
        // silent for an hour shows an empty last hour rather than a
        // stretched curve. uPlot asks with the data's first and last time
        // when it scales by itself, and with the selection when zooming.
        x: {
          time: true,
          range: (u, min, max) => {
            const xs = u.data[0];
            const auto = min == null || !xs.length || (min === xs[0] && max === xs[xs.length - 1]);
            return auto ? [win.from / 1000, win.to / 1000] : [min, max];
          },
        },
        y: { range: yRange(m.key) },
      },
      series: [
        { value: (u, ts) => (ts == null ? '–' : new Date(ts * 1000).toLocaleString()) },
        { label: m.label, stroke: m.color, width: 2, value, spanGaps: false },
        { label: 'min', stroke: m.color + '66', width: 1, value, spanGaps: false },
        { label: 'max', stroke: m.color + '66', width: 1, value, spanGaps: false },
      ],
      bands: [{ series: [3, 2], fill: band }],
      hooks: { draw: [(u) => drawThresholds(u, m.key)] },
      axes: [
        { stroke: '#677184', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e2e6ec' } },
        { stroke: '#677184', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e2e6ec' }, size: axisSize },
      ],
    };
  }

  // axisSize makes the y axis as wide as its longest label (1,008.75 hPa
  // needs more than a fixed width, which clipped it on a phone), measured
  // in the axis's own font; uPlot asks again whenever the labels change
  // (and stops after a few rounds should sizes and labels not settle).
  function axisSize(u, values, axisIdx) {
    const axis = u.axes[axisIdx];
    let size = axis.ticks.size + axis.gap;
    const longest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), '');
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(Math.max(size, 40));
  }

  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const k of Object.keys(charts)) {
        const c = charts[k];
        c.u.setSize({ width: chartWidth(c.box), height: 220 });
      }
    }, 100);
  });

  for (const b of document.querySelectorAll('.ranges button')) {
    b.addEventListener('click', () => {
      if (!view || view.name !== 'device') return;
      if (b.dataset.range === 'custom') {
        const { from, to } = rangeOf(view);
        location.hash = deviceHash(view.id, { from: new Date(from).toISOString(), to: new Date(to).toISOString() });
      } else {
        location.hash = deviceHash(view.id, { range: b.dataset.range });
      }
    });
  }

  $('#custom').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const from = new Date($('#custom-from').value), to = new Date($('#custom-to').value);
    if (!(from < to)) {
      notice('The custom range must start before it ends.', true);
      return;
    }
    notice('');
    location.hash = deviceHash(view.id, { from: from.toISOString(), to: to.toISOString() });
  });

  // CSV of the readings in the shown range, fetched with the token (a plain
  // link could not send it) and handed to the browser as a download.
  $('#csv').addEventListener('click', async () => {
    if (!view || view.name !== 'device') return;
    const { from, to } = rangeOf(view);
    const q = 'format=csv&deviceId=' + encodeURIComponent(view.id) + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
    const btn = $('#csv');
    btn.disabled = true;
    btn.textContent = 'Preparing…';
    try {
      const res = await api('/api/measurements?' + q, 'text/csv');
      if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
      const blob = await res.blob();
      const a = el('a', {
        href: URL.createObjectURL(blob),
        download: view.id + '_' + new Date(from).toISOString().slice(0, 16) + '_' + new Date(to).toISOString().slice(0, 16) + '.csv',
      });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60e3);
    } catch (e) {
      if (e instanceof AuthError) showSignIn(e);
      else notice('CSV download failed: ' + e.message, true);
    } finally {
      btn.disabled = false;
      btn.textContent = 'Download CSV';
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && view && timer) refresh(); // catch up when the tab comes back
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
})();
