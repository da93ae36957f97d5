// The room list (last message, live unread counts), public rooms to join and
// a new room.

import { api, getSession } from '../api.js';
import { roomList, onRoomsChange, roomsLoaded, upsertRoom } from '../store.js';
import { h, form, fillList, actionButton, initials, keyedChildren } from '../dom.js';
import { t, formatTime, formatCount } from '../i18n.js';
import { icon } from '../icons.js';
import { preview } from '../format.js';
import { filesSummary } from '../files.js';
import { presenceDot } from './people.js';

const roomHref = (room) => `#/rooms/${encodeURIComponent(room.id)}`;

// lastLine is a room row's second line: who said what last, on one line.
function lastLine(room) {
  const m = room.last_message;
  if (!m) return room.topic || (room.kind === 'dm' ? '' : t('rooms.memberCount', { n: room.member_count || 0 }));
  const text = m.deleted ? t('chat.deleted') : preview(m.body || filesSummary(m.attachments));
  const mine = m.author?.id === getSession()?.user?.id;
  if (room.kind === 'dm' && !mine) return text;
  return `${mine ? t('chat.you') : (m.author?.display_name || m.author?.username)}: ${text}`;
}

function roomItem(room) {
  const unread = room.unread > 0;
  return h('li', null,
    h('a', { href: roomHref(room), class: `room-item${unread ? ' unread' : ''}`, testid: 'room-item', 'data-name': room.name, 'data-id': room.id, 'data-kind': room.kind || 'room' },
      h('span', { class: 'avatar', 'aria-hidden': room.kind === 'dm' ? null : 'true' },
        h('span', { 'aria-hidden': 'true' }, initials(room.name)), room.kind === 'dm' && room.peer && presenceDot(room.peer.id)),
      h('span', { class: 'room-main' },
        h('span', { class: 'room-name' }, room.name, room.archived && h('span', { class: 'tag' }, t('rooms.archived'))),
        h('span', { class: 'room-sub', testid: 'room-last' }, lastLine(room))),
      h('span', { class: 'room-side' },
        h('time', { datetime: room.last_activity_at }, formatTime(room.last_activity_at || room.created_at)),
        h('span', { class: 'badges' },
          room.mention_count > 0 && h('span', { class: 'badge mention', testid: 'mention-badge', 'aria-hidden': 'true' }, '@'),
          room.mention_count > 0 && h('span', { class: 'sr-only' }, t('rooms.mentioned', { n: room.mention_count })),
          unread && h('span', { class: 'badge', testid: 'unread', 'aria-hidden': 'true' }, formatCount(room.unread))),
        unread && h('span', { class: 'sr-only' }, t('rooms.unread', { n: room.unread })))));
}

export function roomListView() {
  const list = h('ul', { class: 'room-list', testid: 'room-list', 'aria-label': t('rooms.title') });
  const empty = h('div', { class: 'empty-state', hidden: true },
    h('p', null, t('rooms.empty')),
    h('a', { class: 'button', href: '#/browse' }, t('rooms.browse')));
  const draw = () => {
    const rooms = roomList();
    keyedChildren(list, rooms, (room) => room.id, roomItem);
    empty.hidden = rooms.length > 0 || !roomsLoaded();
    list.setAttribute('aria-busy', String(!roomsLoaded()));
  };
  const off = onRoomsChange(draw);
  draw();
  const fab = h('a', { class: 'fab', href: '#/new-room', testid: 'new-room', 'aria-label': t('rooms.new') }, icon('plus'));
  return {
    title: t('rooms.title'),
    el: h('div', { class: 'rooms' }, list, empty, fab),
    tabs: true,
    actions: [
      h('a', { class: 'icon-button', href: '#/search', testid: 'open-search', 'aria-label': t('search.title') }, icon('search')),
      h('a', { class: 'icon-button', href: '#/mentions', testid: 'open-mentions', 'aria-label': t('mentions.title') }, icon('at')),
      h('a', { class: 'icon-button', href: '#/people', testid: 'new-dm', 'aria-label': t('people.new') }, icon('compose')),
    ],
    destroy: off,
  };
}

// roomCreateForm is the "new room" form, also used on the admin rooms screen.
export function roomCreateForm(id, onCreated) {
  return form({
    id,
    submit: t('rooms.create'),
    fields: [
      { name: 'name', label: t('rooms.name'), required: true, maxlength: 80 },
      { name: 'topic', label: t('rooms.topic'), maxlength: 200 },
      {
        name: 'visibility',
        label: t('rooms.visibility'),
        type: 'select',
        value: 'public',
        options: [
          { value: 'public', label: t('rooms.public') },
          { value: 'private', label: t('rooms.private') },
        ],
      },
    ],
    async onSubmit(values, data) {
      const room = await api('POST', '/rooms', values);
      upsertRoom(room);
      document.getElementById(id)?.reset();
      await onCreated(room, data);
    },
  });
}

export function newRoomView(params, query, { navigate }) {
  const el = roomCreateForm('new-room-form', (room) => navigate(`/rooms/${encodeURIComponent(room.id)}`, { replace: true }));
  return { title: t('rooms.new'), back: '/rooms', el: h('div', { class: 'page' }, el) };
}

export function browseView(params, query, { navigate }) {
  const list = h('ul', { class: 'list', testid: 'public-rooms', 'aria-label': t('browse.title') });
  const item = (room) => {
    const control = room.my_role
      ? h('a', { class: 'button secondary', href: roomHref(room) }, t('browse.open'))
      : actionButton(t('browse.join'), async () => {
        const joined = await api('POST', `/rooms/${encodeURIComponent(room.id)}/join`);
        upsertRoom(joined);
        navigate(`/rooms/${encodeURIComponent(joined.id)}`);
      }, { testid: 'join-room', 'aria-label': t('browse.joinRoom', { name: room.name }) });
    return h('li', { class: 'list-row', testid: 'public-room', 'data-name': room.name },
      h('div', { class: 'list-row-text' },
        h('span', { class: 'list-row-title' }, room.name),
        h('span', { class: 'list-row-details' }, room.topic || t('rooms.memberCount', { n: room.member_count || 0 }))),
      h('div', { class: 'list-row-controls' }, control));
  };
  fillList(list, () => api('GET', '/rooms?scope=public'), item, t('browse.empty'));
  return { title: t('browse.title'), el: h('div', { class: 'page' }, list), tabs: true };
}
