// Routes live in the URL fragment: #/ is the device list, #/device/ID the
// charts of one device (?range=24h, or ?from=...&to=... for a custom
// range).

export const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
export const DEFAULT_RANGE = '24h';

export function parseRoute() {
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

export function deviceHash(id, params) {
  return '#/device/' + encodeURIComponent(id) + (params ? '?' + new URLSearchParams(params) : '');
}

// rangeOf is the span a device view shows, in epoch milliseconds.
export function rangeOf(v) {
  if (v.range === 'custom') return { from: v.from, to: v.to };
  const to = Date.now();
  return { from: to - RANGES[v.range], to };
}
