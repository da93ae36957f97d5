// The search screen: a search box, then the messages found, newest first,
// with the matches marked; a result opens its room at the message.

import { api } from '../api.js';
import { getRoom } from '../store.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../nav.js';
import { foundItem, pagedList } from './mentions.js';

const PAGE = 20;

// marked shows body with the highlighted ranges (code points) in <mark>.
export function marked(body, highlights) {
  const chars = Array.from(body);
  const out = [];
  let at = 0;
  for (const [start, end] of highlights || []) {
    if (start < at || end > chars.length) continue;
    if (start > at) out.push(chars.slice(at, start).join(''));
    out.push(h('mark', null, chars.slice(start, end).join('')));
    at = end;
  }
  if (at < chars.length) out.push(chars.slice(at).join(''));
  return out;
}

export function searchView(params, query) {
  const text = (query?.get('q') || '').trim();
  const names = new Map(); // room id → name, for public rooms I am not in
  const box = h('input', {
    type: 'search', id: 'search-q', name: 'q', value: text, maxlength: '200', enterkeyhint: 'search',
    autocomplete: 'off', 'aria-label': t('search.label'), placeholder: t('search.placeholder'),
  });
  const searchForm = h('form', { class: 'row', role: 'search', testid: 'search-form' }, box,
    h('button', { type: 'submit', class: 'primary', testid: 'search-submit' }, t('search.go')));
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = box.value.trim();
    if (q) navigate(`/search?q=${encodeURIComponent(q)}`, { replace: true });
  });
  const status = h('p', { class: 'muted', role: 'status', testid: 'search-status' });
  const list = h('ul', { class: 'found-list', testid: 'search-results', 'aria-label': t('search.results') });

  async function roomNames(messages) {
    const unknown = [...new Set(messages.map((m) => m.room_id))].filter((id) => !getRoom(id) && !names.has(id));
    await Promise.all(unknown.map(async (id) => {
      try {
        names.set(id, (await api('GET', `/rooms/${encodeURIComponent(id)}`)).name);
      } catch {
        names.set(id, '');
      }
    }));
  }

  const { more, load } = pagedList({
    list,
    emptyText: t('search.none'),
    item: (r) => foundItem(r.message, { testid: 'search-result', body: marked(r.message.body, r.highlights), roomName: names.get(r.message.room_id) }),
    status: (n) => { status.textContent = t('search.count', { n }); },
    async fetch(before) {
      const page = await api('GET', `/search?q=${encodeURIComponent(text)}&limit=${PAGE}${before ? `&before=${encodeURIComponent(before)}` : ''}`);
      const items = page.results || [];
      await roomNames(items.map((r) => r.message));
      return { items, next: page.has_more ? page.next : null };
    },
  });
  if (text) load(null);
  else setTimeout(() => box.focus(), 0);
  return {
    title: t('search.title'),
    back: '/rooms',
    el: h('div', { class: 'page' }, searchForm, text && status, text && list, more),
  };
}
