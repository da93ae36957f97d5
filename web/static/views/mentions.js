// The "Mentions" screen: messages that name me, newest first, each opening
// the room at that message. foundItem also shows search results.

import { api, getSession } from '../api.js';
import { getRoom } from '../store.js';
import { h, errorText } from '../dom.js';
import { t, formatTime } from '../i18n.js';
import { formatBody } from '../format.js';

const PAGE = 30;

// messageHref opens a message's room scrolled to the message.
export function messageHref(message) {
  return `#/rooms/${encodeURIComponent(message.room_id)}?msg=${encodeURIComponent(message.id)}&seq=${message.seq}`;
}

// foundItem is one message in a list of found messages: where, who, when,
// and its body (body nodes may be given, e.g. with the match highlighted).
export function foundItem(message, { testid = 'found', body, roomName } = {}) {
  const me = getSession().user;
  const author = message.author?.id === me.id ? t('chat.you') : (message.author?.display_name || message.author?.username || '?');
  const where = roomName || getRoom(message.room_id)?.name || t('chat.title');
  return h('li', null,
    h('a', { class: 'found', href: messageHref(message), testid, 'data-id': message.id },
      h('span', { class: 'found-head' },
        h('span', { class: 'found-room' }, where),
        h('time', { datetime: message.created_at }, formatTime(message.created_at))),
      h('span', { class: 'found-author' }, author),
      h('span', { class: 'found-body' },
        body || formatBody(message.body, { me: me.username, mentionsMe: (message.mentions || []).includes(me.id) }))));
}

// pagedList shows pages of items with a "more" button; fetch(before) returns
// {items, next} where next is the cursor of the following page or null.
export function pagedList({ list, fetch, item, emptyText, status }) {
  let next = null;
  const more = h('button', { type: 'button', class: 'wide', testid: 'load-more', hidden: true, onclick: () => load(next) }, t('common.more'));
  async function load(before) {
    more.hidden = true;
    list.setAttribute('aria-busy', 'true');
    try {
      const page = await fetch(before);
      if (!before) list.replaceChildren();
      list.append(...page.items.map(item));
      if (!list.children.length) list.append(h('li', { class: 'empty' }, emptyText));
      next = page.next;
      more.hidden = !next;
      status?.(list.querySelectorAll('[data-id]').length);
    } catch (err) {
      list.append(h('li', { class: 'error', role: 'alert' }, errorText(err)));
    } finally {
      list.removeAttribute('aria-busy');
    }
  }
  return { more, load };
}

export function mentionsView() {
  const list = h('ul', { class: 'found-list', testid: 'mentions', 'aria-label': t('mentions.title') });
  const { more, load } = pagedList({
    list,
    emptyText: t('mentions.empty'),
    item: (m) => foundItem(m, { testid: 'mention-item' }),
    async fetch(before) {
      const page = await api('GET', `/mentions?limit=${PAGE}${before ? `&before=${encodeURIComponent(before)}` : ''}`);
      const items = page.messages || [];
      return { items, next: page.has_more && items.length ? items[items.length - 1].id : null };
    },
  });
  load(null);
  return { title: t('mentions.title'), back: '/rooms', el: h('div', { class: 'page' }, list, more) };
}
