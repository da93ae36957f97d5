// Admin: every room of the workspace, with create, rename, archive, delete
// and a link to the members.

import { api } from '../api.js';
import { removeRoom } from '../store.js';
import { h, dialog, fillList, listRow, actionButton, toast } from '../dom.js';
import { t } from '../i18n.js';
import { roomCreateForm } from './rooms.js';

async function allRooms() {
  const rooms = (await api('GET', '/rooms?scope=all')) || [];
  return rooms.sort((a, b) => a.name.localeCompare(b.name));
}

export function adminRooms() {
  const list = h('ul', { class: 'list', testid: 'admin-room-list', 'aria-labelledby': 'admin-rooms-title' });
  const reload = () => fillList(list, allRooms, row, t('admin.noRooms'));

  function row(room) {
    const roomPath = `/rooms/${encodeURIComponent(room.id)}`;
    const patch = async (changes) => {
      await api('PATCH', roomPath, changes);
      await reload();
    };
    return listRow({
      title: room.name,
      details: t('rooms.memberCount', { n: room.member_count || 0 }),
      badges: [t(`rooms.${room.visibility}`), room.archived && t('rooms.archived')],
      testid: 'admin-room',
      name: room.name,
      controls: [
        actionButton(t('admin.rename'), async () => {
          const values = await dialog({
            title: t('admin.renameTitle', { name: room.name }),
            fields: [{ name: 'name', label: t('rooms.name'), value: room.name, required: true, maxlength: 80 }],
            confirm: t('common.save'),
          });
          if (!values || values.name === room.name) return;
          if (!values.name) {
            toast(t('rooms.nameRequired')); // a name of blanks is no name
            return;
          }
          await patch({ name: values.name });
        }, { testid: 'room-rename' }),
        actionButton(room.archived ? t('admin.unarchive') : t('admin.archive'),
          () => patch({ archived: !room.archived }), { testid: 'room-archive' }),
        h('a', { class: 'button secondary', href: `#${roomPath}/members`, testid: 'room-members-link' }, t('admin.members')),
        actionButton(t('admin.delete'), async () => {
          await api('DELETE', roomPath);
          removeRoom(room.id);
          await reload();
        }, { danger: true, confirm: t('admin.deleteRoomConfirm', { name: room.name }), testid: 'room-delete' }),
      ],
    });
  }

  reload();
  return h('div', { class: 'stack' },
    h('section', { 'aria-labelledby': 'admin-new-room-title' },
      h('h2', { id: 'admin-new-room-title' }, t('rooms.new')),
      roomCreateForm('room-create', reload)),
    h('section', null, h('h2', { id: 'admin-rooms-title' }, t('admin.roomList')), list));
}
