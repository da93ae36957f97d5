// A few line icons, drawn as SVG so they look the same everywhere (emoji
// fonts differ between phones). They are decorative: the control carries the
// label.

const PATHS = {
  chats: 'M4 5h16v11H9l-5 4z',
  search: 'M11 4a7 7 0 1 1 0 14a7 7 0 0 1 0-14zM16.5 16.5L20 20',
  admin: 'M4 7h9M17 7h3M4 17h3M11 17h9M15 5v4M9 15v4',
  me: 'M12 12a4 4 0 1 0 0-8a4 4 0 0 0 0 8zM4 20a8 8 0 0 1 16 0',
  members: 'M9 11a3.5 3.5 0 1 0 0-7a3.5 3.5 0 0 0 0 7zM2 20a7 7 0 0 1 14 0M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14a6 6 0 0 1 4 6',
  back: 'M15 5l-7 7l7 7',
  send: 'M4 12L20 4l-6 16l-2.5-6.5z',
  plus: 'M12 5v14M5 12h14',
  more: 'M6 12h.01M12 12h.01M18 12h.01',
  compose: 'M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4',
  clip: 'M20 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.4 8.4a1.7 1.7 0 0 1-2.4-2.4L15 7',
  camera: 'M4 8h3.5l2-3h5l2 3H20v11H4zM12 16.5a3.5 3.5 0 1 0 0-7a3.5 3.5 0 0 0 0 7z',
  file: 'M6 3h8l4 4v14H6zM14 3v4h4',
  at: 'M15.5 12a3.5 3.5 0 1 1-7 0a3.5 3.5 0 0 1 7 0zM15.5 12v1.5a2.5 2.5 0 0 0 5 0V12a8.5 8.5 0 1 0-3.5 6.9',
};

const SVG = 'http://www.w3.org/2000/svg';

export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon icon-${name}`);
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', PATHS[name]);
  svg.append(path);
  return svg;
}
