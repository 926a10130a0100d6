// The calls to the public JSON API (/api/...), with the reader token. An
// endpoint this server or token does not offer (an older version) is
// remembered in state and answered null, so that its panel hides.
import { state } from './state.js';

export class AuthError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, accept) {
  const headers = { Accept: accept || 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
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

export async function getJSON(path) {
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

// loadAlerts returns open alerts, or null when this server has no alerts
// endpoint (an older version): then the panel is simply not shown.
export async function loadAlerts() {
  if (!state.alertsSupported) return null;
  try {
    return (await getJSON('/api/alerts?state=open')).items || [];
  } catch (e) {
    // 401: the token is bad, which the other requests report too. 403:
    // this token may read devices but not alerts; show the rest.
    if (e instanceof AuthError && e.status === 401) throw e;
    if (e.status === 403 || e.status === 404 || e.status === 405) state.alertsSupported = false;
    return null;
  }
}

// loadRules returns the alert rules watching device id with its states,
// or null when this server or token cannot list them (the panel hides).
export async function loadRules(id) {
  if (!state.rulesSupported) return null;
  try {
    const items = (await getJSON('/api/alert-rules?deviceId=' + encodeURIComponent(id))).items || [];
    return items.filter((r) => r.all || r.devices.includes(id));
  } catch (e) {
    if (e instanceof AuthError && e.status === 401) throw e;
    if (e.status === 403 || e.status === 404 || e.status === 405) state.rulesSupported = false;
    return null;
  }
}

// loadEnergy asks for one device's energy per bucket in state.energyTZ,
// falling back to UTC once when the server refuses the zone. It answers
// null when the server has no energy endpoint (an older version).
export async function loadEnergy(id, from, to, bucket) {
  if (!state.energySupported) return null;
  const q = (tz) => '/api/measurements/energy?deviceId=' + encodeURIComponent(id) + '&bucket=' + bucket +
    '&tz=' + encodeURIComponent(tz) + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
  const tz = state.energyTZ; // requests in flight together may all meet the refusal
  try {
    return await getJSON(q(tz));
  } catch (e) {
    if (e.status === 400 && tz !== 'UTC' && /\btz=/.test(e.message)) {
      state.energyTZ = 'UTC';
      return getJSON(q('UTC'));
    }
    if (e.status === 404 && /no such endpoint/.test(e.message)) {
      state.energySupported = false;
      return null;
    }
    throw e;
  }
}
