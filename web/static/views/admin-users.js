// Admin: the tenant's users, with search, tenant roles, disable / enable, and
// adding a user.

import { api, getSession } from '../api.js';
import { h, form, fillList, listRow, actionButton, roleSelect, asList, toast } from '../dom.js';
import { t } from '../i18n.js';

const TENANT_ROLES = ['owner', 'admin', 'member'];

export function adminUsers() {
  const me = getSession().user;
  const list = h('ul', { class: 'list', testid: 'user-list', 'aria-label': t('users.title') });
  const search = h('input', { type: 'search', id: 'user-search', placeholder: t('users.search'), 'aria-label': t('users.search'), autocapitalize: 'off' });
  let timer = 0;
  const reload = () => {
    const q = search.value.trim();
    const query = q ? `?q=${encodeURIComponent(q)}` : '';
    return fillList(list, async () => asList(await api('GET', `/users${query}`), 'users'), row, t('users.empty'));
  };
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 250);
  });

  function row(user) {
    const name = user.display_name || user.username;
    const userPath = `/users/${encodeURIComponent(user.id)}`;
    const self = user.id === me.id;
    return listRow({
      title: name,
      details: `@${user.username}`,
      badges: [self && t('users.you'), user.disabled && t('users.disabled'), self && t(`role.${user.role}`)],
      testid: 'user',
      name: user.username,
      controls: self ? [] : [
        roleSelect({
          label: t('users.roleFor', { name }),
          value: user.role,
          roles: TENANT_ROLES,
          names: 'role',
          testid: 'user-role',
          save: (role) => api('PATCH', userPath, { role }),
        }),
        actionButton(user.disabled ? t('users.enable') : t('users.disable'), async () => {
          await api('PATCH', userPath, { disabled: !user.disabled });
          await reload();
        }, {
          danger: !user.disabled,
          confirm: user.disabled ? null : t('users.disableConfirm', { name }),
          testid: 'user-disable',
        }),
      ],
    });
  }

  const create = form({
    id: 'user-create',
    submit: t('users.create'),
    fields: [
      { name: 'username', label: t('auth.username'), required: true, pattern: '[a-zA-Z0-9_.\\-]{3,32}', autocomplete: 'off' },
      { name: 'display_name', label: t('auth.displayName'), maxlength: 64, autocomplete: 'off' },
      { name: 'password', label: t('auth.password'), type: 'password', minlength: 8, autocomplete: 'new-password', hint: t('users.passwordHint') },
      { name: 'role', label: t('users.role'), type: 'select', value: 'member', options: TENANT_ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })) },
    ],
    async onSubmit(values) {
      const body = { username: values.username, display_name: values.display_name || values.username, role: values.role };
      if (values.password) body.password = values.password;
      await api('POST', '/users', body);
      document.getElementById('user-create')?.reset();
      toast(t('users.created', { name: body.username }));
      await reload();
    },
  });

  reload();
  return h('div', { class: 'stack' },
    search,
    list,
    h('details', { class: 'card' }, h('summary', { testid: 'user-create-toggle' }, t('users.create')), create));
}
