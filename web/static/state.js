// What the page keeps between refreshes, in one place: the reader token
// (also in localStorage), the view on screen, and what this server turned
// out not to support. Every module reads and changes it here.

const TOKEN_KEY = 'thermowatt.token';

export const state = {
  token: localStorage.getItem(TOKEN_KEY) || '',
  // what is on screen: {name:'list'} or {name:'device', id, range, from, to}
  view: null,
  // Endpoints an older server (or this token) lacks: their panels hide.
  alertsSupported: true,
  rulesSupported: true,
  energySupported: true,
  // Energy buckets follow the browser's calendar; a zone the server cannot
  // bucket by (unknown to it, or not a whole number of hours from UTC) is
  // replaced by UTC for the rest of the visit.
  energyTZ: browserZone(),
};

export function saveToken(token) {
  state.token = token;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch (e) {
    return 'UTC';
  }
}
