// Admin screens for tenant owners and admins: one screen with a section per
// tab (rooms, users, invites and sign-up, API keys, audit log).

import { api } from '../api.js';
import { h, form, field, fillList, listRow, actionButton, secretBox, asList, toast } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { adminRooms } from './admin-rooms.js';
import { adminUsers } from './admin-users.js';
import { adminKeys } from './admin-keys.js';
import { adminAudit } from './admin-audit.js';

const SIGNUP_POLICIES = ['open', 'invite', 'closed'];

function adminInvites() {
  const settings = h('div', { 'aria-busy': 'true' });
  const result = h('div', { class: 'stack', testid: 'invite-result', 'aria-live': 'polite' });

  api('GET', '/tenant').then((tenant) => {
    settings.removeAttribute('aria-busy');
    settings.replaceChildren(form({
      id: 'tenant-settings',
      submit: t('common.save'),
      fields: [
        { name: 'name', label: t('auth.workspaceName'), value: tenant.name, required: true, maxlength: 100 },
        {
          name: 'signup_policy',
          label: t('invites.policy'),
          type: 'select',
          value: tenant.signup_policy,
          options: SIGNUP_POLICIES.map((p) => ({ value: p, label: t(`policy.${p}`) })),
        },
      ],
      async onSubmit(values) {
        await api('PATCH', '/tenant', values);
        toast(t('common.saved'));
      },
    }));
  }).catch((err) => settings.replaceChildren(h('p', { role: 'alert' }, err.message)));

  // Open invites: a code is shown whole only once; the list names it by its prefix.
  const list = h('ul', { class: 'list', testid: 'invite-list', 'aria-labelledby': 'invites-open-title' });
  const reload = () => fillList(list, async () => asList(await api('GET', '/tenant/invites'), 'invites'), inviteRow, t('invites.empty'));

  function inviteRow(invite) {
    const code = `${invite.prefix}…`;
    return listRow({
      title: code,
      details: [
        t('invites.used', { uses: invite.uses, max: invite.max_uses }),
        t('invites.until', { date: formatDate(invite.expires_at) }),
      ].join(' · '),
      testid: 'invite',
      name: invite.prefix,
      controls: [actionButton(t('invites.revoke'), async () => {
        await api('DELETE', `/tenant/invites/${encodeURIComponent(invite.prefix)}`);
        toast(t('invites.revoked', { code }));
        await reload();
      }, { danger: true, confirm: t('invites.revokeConfirm', { code }), testid: 'invite-revoke', 'aria-label': t('invites.revokeLabel', { code }) })],
    });
  }

  const uses = field('invite', {
    name: 'max_uses', label: t('invites.maxUses'), type: 'number', value: '1', min: '1', max: '1000', inputmode: 'numeric', hint: t('invites.maxUsesHint'),
  });
  const create = actionButton(t('invites.create'), async () => {
    const maxUses = Number(document.getElementById('invite-max_uses').value || 1);
    const invite = await api('POST', '/tenant/invites', { max_uses: maxUses });
    const slug = (await api('GET', '/tenant')).slug;
    const link = `${location.origin}/#/signup?tenant=${encodeURIComponent(slug)}&invite=${encodeURIComponent(invite.code)}`;
    result.replaceChildren(
      secretBox({ label: t('invites.code'), value: invite.code, testid: 'invite-code', note: t('invites.expires', { date: formatDate(invite.expires_at) }) }),
      secretBox({ label: t('invites.link'), value: link, testid: 'invite-link', note: t('invites.once') }));
    await reload();
  }, { testid: 'invite-create', class: 'primary wide' });

  reload();
  return h('div', { class: 'stack' },
    h('section', { 'aria-labelledby': 'signup-title' }, h('h2', { id: 'signup-title' }, t('invites.signupTitle')), settings),
    h('section', { 'aria-labelledby': 'invites-title' },
      h('h2', { id: 'invites-title' }, t('invites.title')),
      h('p', { class: 'hint' }, t('invites.explain')),
      uses, create, result),
    h('section', null, h('h2', { id: 'invites-open-title' }, t('invites.open')), list));
}

const TABS = [
  ['rooms', adminRooms],
  ['users', adminUsers],
  ['invites', adminInvites],
  ['keys', adminKeys],
  ['audit', adminAudit],
];

// adminView is one screen for every section: moving to another section swaps
// only the section (update), so the section links stay the same elements and
// a tap on one that starts while the previous section is still drawing lands.
export function adminView({ tab }) {
  const links = new Map(TABS.map(([n]) => [n, h('a', { href: `#/admin/${n}`, testid: `admin-tab-${n}` }, t(`admin.${n}`))]));
  const nav = h('nav', { class: 'segmented', 'aria-label': t('admin.sections') }, [...links.values()]);
  let section = h('div');
  const el = h('div', { class: 'page admin' }, nav, section);
  let shown = null;
  function show(wanted) {
    const [name, build] = TABS.find(([n]) => n === wanted) || TABS[0];
    if (name === shown) return;
    shown = name;
    for (const [n, link] of links) {
      if (n === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const next = build();
    section.replaceWith(next);
    section = next;
  }
  show(tab);
  return { title: t('admin.title'), el, tabs: true, update: (params) => show(params.tab) };
}
