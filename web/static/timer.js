// The one pending refresh of the page: each view schedules its next one,
// and signing out or in cancels it.

let timer = 0;

export function stopTimer() {
  clearTimeout(timer);
  timer = 0;
}

export function isScheduled() {
  return timer !== 0;
}

// schedule runs fn in ms, and puts it off again while the tab is in the
// background: no polling there.
export function schedule(ms, fn) {
  stopTimer();
  timer = setTimeout(() => {
    if (document.hidden) { schedule(ms, fn); return; }
    fn();
  }, ms);
}
