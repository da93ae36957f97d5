// Admin: API keys. A new key's secret is shown once, right after creation.

import { api } from '../api.js';
import { h, form, fillList, listRow, actionButton, secretBox, asList } from '../dom.js';
import { t, formatDate } from '../i18n.js';

const SCOPES = ['users:write', 'rooms:write', 'messages:write', 'tokens:write'];

export function adminKeys() {
  const list = h('ul', { class: 'list', testid: 'apikey-list', 'aria-labelledby': 'apikeys-title' });
  const reveal = h('div', { class: 'stack', testid: 'apikey-reveal' });
  const reload = () => fillList(list, async () => asList(await api('GET', '/apikeys'), 'keys'), row, t('keys.empty'));

  function row(key) {
    const details = [
      `${key.prefix}…`,
      (key.scopes || []).join(', '),
      t('keys.created', { date: formatDate(key.created_at) }),
      key.last_used_at ? t('keys.lastUsed', { date: formatDate(key.last_used_at) }) : t('keys.neverUsed'),
    ].join(' · ');
    return listRow({
      title: key.name,
      details,
      testid: 'apikey',
      name: key.name,
      controls: [actionButton(t('keys.revoke'), async () => {
        await api('DELETE', `/apikeys/${encodeURIComponent(key.id)}`);
        await reload();
      }, { danger: true, confirm: t('keys.revokeConfirm', { name: key.name }), testid: 'apikey-revoke' })],
    });
  }

  const create = form({
    id: 'apikey-form',
    submit: t('keys.create'),
    fields: [
      { name: 'name', label: t('keys.name'), required: true, maxlength: 80, autocomplete: 'off' },
      { name: 'scopes', label: t('keys.scopes'), type: 'checks', options: SCOPES.map((s) => ({ value: s, label: `${s} — ${t(`scope.${s}`)}` })) },
    ],
    async onSubmit(values, data) {
      const scopes = data.getAll('scopes');
      if (!scopes.length) throw new Error(t('keys.needScope'));
      const key = await api('POST', '/apikeys', { name: values.name, scopes });
      document.getElementById('apikey-form')?.reset();
      reveal.replaceChildren(
        secretBox({ label: t('keys.secret', { name: key.name }), value: key.key, testid: 'apikey-secret', note: t('keys.once') }),
        h('button', { type: 'button', class: 'secondary', testid: 'apikey-done', onclick: () => reveal.replaceChildren() }, t('keys.done')));
      reveal.querySelector('input')?.focus();
      await reload();
    },
  });

  reload();
  return h('div', { class: 'stack' },
    h('section', { 'aria-labelledby': 'apikey-new-title' }, h('h2', { id: 'apikey-new-title' }, t('keys.new')), create, reveal),
    h('section', null, h('h2', { id: 'apikeys-title' }, t('keys.title')), list));
}
