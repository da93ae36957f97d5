// The members of a room: everyone sees the list and may leave; room owners,
// moderators and tenant admins add people, change roles and remove people.

import { api, getSession, isTenantAdmin } from '../api.js';
import { getRoom, removeRoom } from '../store.js';
import { h, form, fillList, listRow, actionButton, roleSelect, asList } from '../dom.js';
import { t } from '../i18n.js';

const ROOM_ROLES = ['owner', 'moderator', 'member'];

export function membersView({ id }, query, { navigate, setTitle }) {
  const path = `/rooms/${encodeURIComponent(id)}`;
  const me = getSession().user;
  let room = getRoom(id) || null;
  const list = h('ul', { class: 'list', testid: 'member-list', 'aria-label': t('members.title') });
  const tools = h('div', { class: 'stack' });
  const canManage = () => isTenantAdmin() || room?.my_role === 'owner' || room?.my_role === 'moderator';
  const memberPath = (userId) => `${path}/members/${encodeURIComponent(userId)}`;

  function memberRow(member) {
    const { user } = member;
    const name = user.display_name || user.username;
    const controls = [];
    if (canManage()) {
      controls.push(roleSelect({
        label: t('members.roleFor', { name }),
        value: member.role,
        roles: ROOM_ROLES,
        names: 'roomRole',
        testid: 'member-role',
        save: (role) => api('PUT', memberPath(user.id), { role }),
      }));
      if (user.id !== me.id) {
        controls.push(actionButton(t('members.remove'), async () => {
          await api('DELETE', memberPath(user.id));
          await reload();
        }, { danger: true, confirm: t('members.removeConfirm', { name }), testid: 'member-remove' }));
      }
    }
    return listRow({
      title: name,
      details: `@${user.username}`,
      badges: [!canManage() && t(`roomRole.${member.role}`)],
      controls,
      testid: 'member',
      name: user.username,
    });
  }

  const addForm = () => form({
    id: 'member-add',
    submit: t('members.add'),
    fields: [
      { name: 'username', label: t('auth.username'), required: true, autocomplete: 'off' },
      { name: 'role', label: t('members.role'), type: 'select', value: 'member', options: ROOM_ROLES.map((r) => ({ value: r, label: t(`roomRole.${r}`) })) },
    ],
    async onSubmit({ username, role }) {
      const found = asList(await api('GET', `/users?q=${encodeURIComponent(username)}`), 'users');
      const user = found.find((u) => u.username.toLowerCase() === username.toLowerCase());
      if (!user) throw new Error(t('members.noSuchUser', { name: username }));
      await api('PUT', memberPath(user.id), { role });
      document.getElementById('member-add')?.reset();
      reload();
    },
  });

  function drawTools() {
    tools.replaceChildren(
      canManage() && h('section', { 'aria-labelledby': 'member-add-title' },
        h('h2', { id: 'member-add-title' }, t('members.addTitle')), addForm()),
      room?.my_role && actionButton(t('members.leave'), async () => {
        await api('DELETE', memberPath(me.id));
        removeRoom(id);
        navigate('/rooms', { replace: true });
      }, { danger: true, confirm: t('members.leaveConfirm', { name: room.name }), testid: 'leave-room', class: 'danger wide' }));
  }

  async function reload() {
    try {
      room = { ...room, ...(await api('GET', path)) };
      setTitle(t('members.titleFor', { name: room.name }));
    } catch {
      // the list below shows the error
    }
    drawTools();
    await fillList(list, async () => asList(await api('GET', `${path}/members`), 'members'), memberRow, t('members.empty'));
  }

  reload();
  return {
    title: room ? t('members.titleFor', { name: room.name }) : t('members.title'),
    back: `/rooms/${encodeURIComponent(id)}`,
    el: h('div', { class: 'page' }, list, tools),
  };
}
