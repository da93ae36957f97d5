// Message text to DOM nodes: plain text, with http(s) links made tappable.
// Everything is built with text nodes and attributes, never innerHTML, so a
// message can never become markup; a link is only ever http: or https:.

import { h } from './dom.js';

// A URL runs to the next space or angle bracket; punctuation that usually
// ends a sentence is left out of it.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'")\]}>]+$/;

// safeHref returns the URL when it is an http(s) link, or null.
export function safeHref(text) {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

// linkify splits text into text nodes and <a> elements for its links.
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of String(text).matchAll(URL_PATTERN)) {
    let candidate = match[0];
    const trailing = TRAILING.exec(candidate);
    // Keep a closing bracket that closes one inside the URL (wikipedia-style links).
    if (trailing && !(trailing[0] === ')' && candidate.includes('('))) candidate = candidate.slice(0, -trailing[0].length);
    const href = safeHref(candidate);
    if (!href) continue;
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'msg-link' }, candidate));
    last = match.index + candidate.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// preview shortens text to one line for a room list row.
export function preview(text, max = 80) {
  const line = String(text || '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : line;
}
