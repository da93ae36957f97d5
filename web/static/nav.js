// Navigation between screens. Screens live in the URL hash (#/rooms/ID), so
// the server only ever serves index.html and the back button just works.

export function navigate(path, { replace = false } = {}) {
  if (location.hash === `#${path}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else if (replace) location.replace(`#${path}`);
  else location.hash = path;
}

let heading = 'Parley';
let unread = 0;

function drawDocumentTitle() {
  document.title = `${unread > 0 ? `(${unread > 99 ? '99+' : unread}) ` : ''}${heading} · Parley`;
}

// setTitle changes the heading of the screen on display (a room's name once
// it has loaded).
export function setTitle(text) {
  heading = text;
  document.getElementById('view-title').textContent = text;
  drawDocumentTitle();
}

// setUnreadCount shows the unread count in the tab's title.
export function setUnreadCount(n) {
  unread = n;
  drawDocumentTitle();
}

// viewScope is what a screen gets to act on the shell with: navigate and
// setTitle stop working once the screen is left (end), so a request that
// finishes late can neither pull the person back from where they went since
// nor retitle the newer screen. signal is aborted at the same moment.
export function viewScope() {
  const controller = new AbortController();
  const whileShown = (fn) => (...args) => {
    if (!controller.signal.aborted) fn(...args);
  };
  return {
    signal: controller.signal,
    navigate: whileShown(navigate),
    setTitle: whileShown(setTitle),
    end: () => controller.abort(),
  };
}
