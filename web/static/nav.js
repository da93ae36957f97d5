// Navigation between screens. Screens live in the URL hash (#/rooms/ID), so
// the server only ever serves index.html and the back button just works.

export function navigate(path, { replace = false } = {}) {
  if (location.hash === `#${path}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else if (replace) location.replace(`#${path}`);
  else location.hash = path;
}

// setTitle changes the heading of the screen on display (a room's name once
// it has loaded).
export function setTitle(text) {
  document.getElementById('view-title').textContent = text;
  document.title = `${text} · Parley`;
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
