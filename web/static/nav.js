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
