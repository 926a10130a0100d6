// Signing in with a reader token, kept in this browser (localStorage):
// pasted in the form, or from a #token=... link, which is then removed
// from the address bar (a fragment is never sent to the server, so the
// token stays out of its logs).
import { $, hideViews } from './dom.js';
import { saveToken, state } from './state.js';
import { stopTimer } from './timer.js';

export function takeTokenFromFragment() {
  const m = location.hash.match(/^#token=([^&]+)/);
  if (!m) return;
  saveToken(decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search + '#/');
}

// showSignIn replaces the page with the sign-in form, saying why: err is
// the AuthError that refused the saved token, if any.
export function showSignIn(err) {
  stopTimer();
  hideViews();
  const why = $('#signin-why');
  why.classList.toggle('error', Boolean(state.token) || (err && err.status === 403));
  if (err && err.status === 403) {
    why.textContent = 'This token may not read the dashboard (' + (err.message || 'forbidden') +
      '). A device token can only send readings: paste a reader or admin token.';
  } else if (state.token) {
    why.textContent = 'The saved token was refused: ' + (err && err.message ? err.message : 'invalid or revoked token') +
      '. Paste a valid reader token.';
  } else {
    why.textContent = 'This server needs a reader token to show its data.';
  }
  if (state.token) saveToken('');
  $('#signout').hidden = true;
  $('#signin').hidden = false;
  $('#token').focus();
}

// handleSignIn wires the form and the sign-out button; route shows what
// the address names, with the new token or none.
export function handleSignIn(route) {
  $('#signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    saveToken($('#token').value.trim());
    $('#token').value = '';
    $('#signin').hidden = true;
    route();
  });

  $('#signout').addEventListener('click', () => {
    saveToken('');
    location.hash = '#/';
    route();
  });
}
