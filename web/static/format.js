// Message formatting: a small, safe subset of Markdown, turned into elements
// this code creates itself. User text only ever becomes text nodes, so no
// markup in a message can run. Supported: ```code blocks```, `code`, *bold*,
// _italic_, http(s) links and @mentions.

import { h } from './dom.js';

const FENCE = /```(?:[^\S\n]*\n)?([\s\S]*?)```/g;
const INLINE_CODE = /`([^`\n]+)`/g;
// A link runs to the next space; trailing punctuation is left out of it.
const LINK_OR_MENTION = /(https?:\/\/[^\s<>"'`]+)|(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{3,32})/g;
// *bold* and _italic_: the marks hug the text and do not sit inside a word,
// so snake_case_names and 2*3*4 stay as written.
const EMPHASIS = /(^|[^A-Za-z0-9_*])([*_])(?=\S)([^\n]*?\S)\2(?![A-Za-z0-9_*])/g;

// safeLink returns the URL if it is an http(s) link, else null.
export function safeLink(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

// splitBy cuts text by a global regexp: plain parts go through plain(),
// matches through match(); both return arrays of nodes.
function splitBy(text, pattern, match, plain) {
  const out = [];
  let last = 0;
  const regexp = new RegExp(pattern); // its own lastIndex: the callbacks recurse
  for (let m = regexp.exec(text); m; m = regexp.exec(text)) {
    if (m.index > last) out.push(...plain(text.slice(last, m.index)));
    out.push(...match(m));
    last = m.index + m[0].length;
    if (m[0].length === 0) regexp.lastIndex++;
  }
  if (last < text.length) out.push(...plain(text.slice(last)));
  return out;
}

function trimLink(url) {
  let end = url.length;
  while (end > 0 && '.,;:!?)]}'.includes(url[end - 1])) {
    // keep a closing parenthesis that has its opening one, as in wiki links
    if (url[end - 1] === ')' && (url.slice(0, end).split('(').length > url.slice(0, end).split(')').length - 1)) break;
    end--;
  }
  return [url.slice(0, end), url.slice(end)];
}

function linksAndMentions(text, opts) {
  return splitBy(text, LINK_OR_MENTION, (m) => {
    if (m[1]) {
      const [url, rest] = trimLink(m[1]);
      const href = safeLink(url);
      const link = href
        ? h('a', { href, rel: 'noopener noreferrer', target: '_blank', class: 'msg-link' }, url)
        : url;
      return [link, rest].filter(Boolean);
    }
    // "thanks @bob." names bob: the trailing dot stays text, as on the server.
    const name = m[3].replace(/[.-]+$/, '');
    const rest = m[3].slice(name.length);
    const mine = opts.me && name.toLowerCase() === opts.me.toLowerCase();
    return [m[2], h('span', { class: `mention${mine && opts.mentionsMe ? ' me' : ''}`, testid: 'mention' }, `@${name}`), rest]
      .filter(Boolean);
  }, (plain) => [plain]);
}

function emphasis(text, opts) {
  return splitBy(text, EMPHASIS, (m) => {
    const tag = m[2] === '*' ? 'strong' : 'em';
    return [m[1], h(tag, null, emphasis(m[3], opts))].filter(Boolean);
  }, (plain) => linksAndMentions(plain, opts));
}

// Links are cut out before emphasis, so a URL with _ or * in it stays whole.
function inline(text, opts) {
  return splitBy(text, INLINE_CODE, (m) => [h('code', null, m[1])],
    (plain) => splitBy(plain, /https?:\/\/[^\s<>"'`]+/g,
      (m) => linksAndMentions(m[0], opts),
      (rest) => emphasis(rest, opts)));
}

// formatBody returns the nodes showing a message body. opts.me is my
// username; opts.mentionsMe says whether the message mentions me, so that
// my @name is highlighted only where the server found a mention.
export function formatBody(text, opts = {}) {
  return splitBy(text, FENCE, (m) => [h('pre', { class: 'code-block' }, h('code', null, m[1].replace(/\n$/, '')))],
    (plain) => inline(plain, opts));
}

// preview shortens text to one line, for a room list row or a notification.
export function preview(text, max = 80) {
  const line = String(text || '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : line;
}
