// Admin: the workspace's audit log, newest first, an older page at a time.
// Each entry says what was done, to what, by whom (a person, an API key or the
// server's operator), when and from which address.

import { api } from '../api.js';
import { h, listRow, errorText } from '../dom.js';
import { t, formatDate } from '../i18n.js';

const PAGE = 50;
const SHOWN_ELSEWHERE = new Set(['room', 'room_id', 'from', 'to']);

// roleName translates a tenant or room role, and leaves anything else as it is.
function roleName(role, inRoom) {
  const key = `${inRoom ? 'roomRole' : 'role'}.${role}`;
  const name = t(key);
  return name === key ? role : name;
}

function describe(entry) {
  const d = entry.detail || {};
  const target = entry.target.type === 'invite' ? `${entry.target.name}…` : entry.target.name;
  const key = `audit.action.${entry.action}`;
  const title = t(key, { target, room: d.room || '' });
  return title === key ? `${entry.action} ${target}` : title;
}

function actorText(actor) {
  if (actor.type === 'key') return t('audit.byKey', { actor: actor.name });
  if (actor.type === 'operator') return t('audit.byOperator');
  return t('audit.by', { actor: `@${actor.name}` });
}

function detailText(entry) {
  const d = entry.detail || {};
  const inRoom = 'room_id' in d;
  const parts = [];
  if (d.from || d.to) parts.push(t('audit.change', { from: roleName(d.from, inRoom), to: roleName(d.to, inRoom) }));
  for (const [name, value] of Object.entries(d)) {
    if (SHOWN_ELSEWHERE.has(name)) continue;
    const label = t(`audit.field.${name}`);
    const shown = name === 'role' ? roleName(value, inRoom) : value === 'true' ? t('audit.yes') : value === 'false' ? t('audit.no') : value;
    parts.push(`${label === `audit.field.${name}` ? name : label}: ${shown}`);
  }
  return parts;
}

function row(entry) {
  return listRow({
    title: describe(entry),
    details: [...detailText(entry), actorText(entry.actor), formatDate(entry.created_at), entry.ip].filter(Boolean).join(' · '),
    testid: 'audit-entry',
    name: entry.action,
  });
}

export function adminAudit() {
  const list = h('ul', { class: 'list', testid: 'audit-list', 'aria-labelledby': 'audit-title', 'aria-busy': 'true' });
  const more = h('div', { class: 'row' });
  let oldest = '';

  async function load() {
    list.setAttribute('aria-busy', 'true');
    more.replaceChildren();
    try {
      const query = `?limit=${PAGE}${oldest ? `&before=${encodeURIComponent(oldest)}` : ''}`;
      const page = await api('GET', `/audit${query}`);
      const entries = page.entries || [];
      if (!oldest && !entries.length) list.replaceChildren(h('li', { class: 'empty' }, t('audit.empty')));
      else list.append(...entries.map(row));
      if (entries.length) oldest = entries[entries.length - 1].id;
      if (page.has_more) {
        more.replaceChildren(h('button', { type: 'button', class: 'secondary wide', testid: 'audit-more', onclick: load }, t('audit.more')));
      }
    } catch (err) {
      list.append(h('li', { class: 'error', role: 'alert' }, errorText(err)));
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  load();
  return h('section', { class: 'stack', 'aria-labelledby': 'audit-title' },
    h('h2', { id: 'audit-title' }, t('audit.title')),
    h('p', { class: 'hint' }, t('audit.explain')),
    list, more);
}
