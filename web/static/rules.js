// The alert rules watching a device, listed on its page with their state.
import { $, el } from './dom.js';
import { ago, fmt, localTime } from './format.js';
import { QUANTITIES } from './quantities.js';

// isRate: a rate rule's threshold is a change over its window, not a
// value: it is not drawn across the value's chart.
function isRate(r) {
  return !!r.rateOver && r.rateOver !== '0s';
}

function ruleText(r) {
  const q = QUANTITIES.find((x) => x.key === r.metric);
  const unit = q ? ' ' + q.unit : (r.metric.startsWith('energy') ? ' Wh' : '');
  const rate = isRate(r) ? ' rate' : '';
  const over = isRate(r) ? ' over ' + r.rateOver : '';
  return r.metric + rate + ' ' + r.comparison + ' ' + r.threshold + unit + over + (r.for !== '0s' ? ' for ' + r.for : '') +
    (r.hysteresis ? ' (hysteresis ' + r.hysteresis + ')' : '');
}

// renderRules lists rules (null: none to show, the panel hides) with their
// state on device id, and returns the thresholds to draw across the
// charts: per quantity, [{value, firing}].
export function renderRules(rules, id) {
  $('#rules').hidden = !rules || rules.length === 0;
  const thresholds = {};
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
  return thresholds;
}
