// Files in messages: thumbnails that open the full image, download links with
// name and size, and the line that stands for a message's files where there
// is no room for them (room list, announcements). File URLs need the access
// token as ?token= (an <img> or a link cannot send a header); a token that
// has expired meanwhile is renewed once.

import { h, dialog } from './dom.js';
import { t, lang } from './i18n.js';
import { fileURL, freshFileURL } from './api.js';
import { icon } from './icons.js';

// A thumbnail is shown at most this wide or high, in CSS pixels.
const THUMB_SHOWN = 220;

// formatSize writes a size as people read it: 820 B, 14 KB, 2.4 MB.
export function formatSize(bytes) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let n = Number(bytes) || 0;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  const digits = i > 0 && n < 10 ? 1 : 0;
  return `${new Intl.NumberFormat(lang(), { maximumFractionDigits: digits }).format(n)} ${units[i]}`;
}

// filesSummary stands for a message's files in one line ("📎 a.jpg, b.pdf").
export function filesSummary(attachments) {
  if (!attachments?.length) return '';
  return `📎 ${attachments.map((a) => a.name).join(', ')}`;
}

// tokenImage is an <img> of a file URL, renewing its token once if it fails.
function tokenImage(url, attrs) {
  const img = h('img', { ...attrs, src: fileURL(url) });
  let renewed = false;
  img.addEventListener('error', () => {
    if (renewed) return;
    renewed = true;
    freshFileURL(url).then((fresh) => { img.src = fresh; }, () => {});
  });
  return img;
}

// download saves a file through a link made at the time of the tap, so that
// its token is a fresh one.
async function download(event, a) {
  event.preventDefault();
  const link = h('a', { href: await freshFileURL(a.url), download: a.name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

// attachmentsNode shows a message's files: images as thumbnails (a tap opens
// the full image), anything else as a download link with its name and size.
export function attachmentsNode(attachments) {
  if (!attachments?.length) return null;
  return h('ul', { class: 'msg-files', testid: 'msg-files', 'aria-label': t('files.list') },
    attachments.map((a) => h('li', null, a.thumbnail_url ? imageItem(a) : fileItem(a))));
}

function imageItem(a) {
  const scale = Math.min(1, THUMB_SHOWN / Math.max(a.width || 1, a.height || 1));
  return h('button', {
    type: 'button', class: 'msg-image', testid: 'msg-image', 'data-name': a.name,
    'aria-label': t('files.openImage', { name: a.name }), 'aria-haspopup': 'dialog', onclick: () => showImage(a),
  }, tokenImage(a.thumbnail_url, {
    alt: '', loading: 'lazy', decoding: 'async',
    width: Math.max(1, Math.round((a.width || THUMB_SHOWN) * scale)), height: Math.max(1, Math.round((a.height || THUMB_SHOWN) * scale)),
  }));
}

function fileItem(a) {
  return h('a', {
    class: 'msg-file', testid: 'msg-file', href: fileURL(a.url), download: a.name, 'data-name': a.name,
    onclick: (event) => download(event, a),
  }, icon('file'),
  h('span', { class: 'file-text' },
    h('span', { class: 'sr-only' }, `${t('files.download')} `),
    h('span', { class: 'file-name' }, a.name),
    h('span', { class: 'file-size' }, formatSize(a.size))));
}

// showImage opens the full image in a dialog, with a link to save it.
function showImage(a) {
  dialog({
    title: a.name,
    testid: 'image-viewer',
    content: [
      h('div', { class: 'image-full' }, tokenImage(a.url, { alt: a.name, width: a.width, height: a.height, testid: 'image-full' })),
      h('p', null, h('a', { href: fileURL(a.url), download: a.name, testid: 'image-download', onclick: (event) => download(event, a) },
        `${t('files.download')} (${formatSize(a.size)})`)),
    ],
  });
}
