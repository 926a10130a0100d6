// The device page's charts: one uPlot chart per quantity (vendor/, the
// global uPlot of its classic script), average line and min–max band,
// with the alert rules' thresholds drawn across.
import { $, el } from './dom.js';
import { fmt } from './format.js';
import { QUANTITIES } from './quantities.js';

const HEIGHT = 220;

let charts = {}; // quantity key -> {u, box, win}
// thresholds are the alert rules' thresholds per quantity, drawn across
// its chart: [{value, firing}] (rules.js).
let thresholds = {};

export function setThresholds(t) {
  thresholds = t || {};
}

// columns turns the series into uPlot's columnar data [x, avg, min, max]
// per quantity, with a null inserted wherever readings stop for longer
// than the data's usual spacing, so that uPlot (spanGaps false) draws an
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
  for (const q of QUANTITIES) data[q.key] = { avg: [], min: [], max: [], any: false };
  points.forEach((p, i) => {
    x.push(xs[i]);
    for (const q of QUANTITIES) {
      const s = p[q.key], d = data[q.key];
      d.avg.push(s ? s.avg : null);
      d.min.push(s ? s.min : null);
      d.max.push(s ? s.max : null);
      if (s && s.avg != null) d.any = true;
    }
    if (gapAfter.has(i)) {
      x.push(xs[i] + bucketS); // the first empty bucket
      for (const q of QUANTITIES) {
        data[q.key].avg.push(null);
        data[q.key].min.push(null);
        data[q.key].max.push(null);
      }
    }
  });
  return { x, data };
}

export function destroyCharts() {
  for (const k of Object.keys(charts)) charts[k].u.destroy();
  charts = {};
  $('#charts').replaceChildren();
}

function chartWidth(box) {
  return Math.max(200, box.clientWidth - 8);
}

// drawCharts draws the series: a chart per core quantity, and one per
// other quantity the range holds; the ones already there take the new
// data.
export function drawCharts(points, bucketS, from, to) {
  const { x, data } = columns(points, bucketS);
  const wanted = QUANTITIES.filter((q) => q.core || data[q.key].any);
  if (Object.keys(charts).join() !== wanted.map((q) => q.key).join()) destroyCharts();
  const container = $('#charts');
  for (const q of wanted) {
    const d = data[q.key];
    const cols = [x, d.avg, d.min, d.max];
    let c = charts[q.key];
    if (!c) {
      const title = el('h3', {}, el('span', {}, q.label + ' (' + q.unit + ')'), el('span', { className: 'latest' }));
      const plot = el('div', { className: 'plot' });
      const nodata = el('p', { className: 'nodata' }, 'No ' + q.label.toLowerCase() + ' in this range.');
      const box = el('div', { className: 'chart' }, title, plot, nodata);
      box.dataset.metric = q.key;
      container.append(box);
      const win = { from, to };
      const u = new window.uPlot(chartOptions(q, chartWidth(box), win), cols, plot);
      c = charts[q.key] = { u, box, win };
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
    c.box.querySelector('.latest').textContent = last == null ? '' : 'latest ' + fmt(last, q.digits) + ' ' + q.unit;
    c.box.querySelector('.nodata').hidden = d.any;
    c.box.dataset.points = String(d.avg.filter((v) => v != null).length);
  }
}

// win is the requested range, read again by uPlot on every setData.
function chartOptions(q, width, win) {
  const value = (u, v) => (v == null ? '–' : fmt(v, q.digits) + ' ' + q.unit);
  const band = q.color + '26'; // the colour at 15 % opacity
  return {
    width,
    height: HEIGHT,
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
      y: { range: yRange(q.key) },
    },
    series: [
      { value: (u, ts) => (ts == null ? '–' : new Date(ts * 1000).toLocaleString()) },
      { label: q.label, stroke: q.color, width: 2, value, spanGaps: false },
      { label: 'min', stroke: q.color + '66', width: 1, value, spanGaps: false },
      { label: 'max', stroke: q.color + '66', width: 1, value, spanGaps: false },
    ],
    bands: [{ series: [3, 2], fill: band }],
    hooks: { draw: [(u) => drawThresholds(u, q.key)] },
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

// fitChartsOnResize keeps the charts as wide as the page.
export function fitChartsOnResize() {
  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const k of Object.keys(charts)) {
        const c = charts[k];
        c.u.setSize({ width: chartWidth(c.box), height: HEIGHT });
      }
    }, 100);
  });
}
