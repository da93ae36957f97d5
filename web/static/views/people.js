// People of the workspace, to start a direct message with; and startDM, which
// opens (or creates) the conversation with someone from anywhere in the app.

import { api, getSession } from '../api.js';
import { upsertRoom, isOnline, dmWith } from '../store.js';
import { h, fillList, listRow, actionButton, asList } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../nav.js';

// startDM opens my direct message with the user, creating it the first time.
export async function startDM(userId) {
  let room = dmWith(userId);
  if (!room || !room.my_role) {
    room = await api('POST', '/dms', { user_id: userId });
    upsertRoom(room);
  }
  navigate(`/rooms/${encodeURIComponent(room.id)}`);
}

// presenceDot is the small "online" mark beside a person's name.
export function presenceDot(userId) {
  if (!isOnline(userId)) return null;
  return h('span', { class: 'presence-dot', testid: 'online' }, h('span', { class: 'sr-only' }, t('chat.online')));
}

export function peopleView() {
  const me = getSession().user;
  const list = h('ul', { class: 'list', testid: 'people-list', 'aria-label': t('people.title') });
  const search = h('input', {
    type: 'search', id: 'people-search', placeholder: t('users.search'), 'aria-label': t('users.search'), autocapitalize: 'off',
  });
  let timer = 0;
  const row = (user) => {
    const name = user.display_name || user.username;
    return listRow({
      title: [name, presenceDot(user.id)],
      details: `@${user.username}`,
      testid: 'person',
      name: user.username,
      controls: [actionButton(t('people.message'), () => startDM(user.id),
        { testid: 'person-message', 'aria-label': t('people.messageTo', { name }) })],
    });
  };
  const reload = () => {
    const q = search.value.trim();
    const query = q ? `?q=${encodeURIComponent(q)}` : '';
    return fillList(list, async () => asList(await api('GET', `/users${query}`), 'users').filter((u) => u.id !== me.id && !u.disabled),
      row, t('users.empty'));
  };
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 250);
  });
  reload();
  return {
    title: t('people.title'),
    back: '/rooms',
    el: h('div', { class: 'page' }, h('p', { class: 'hint' }, t('people.explain')), search, list),
    destroy: () => clearTimeout(timer),
  };
}
