// The "me" screen: my name and password, notifications on this device,
// language, and log out.

import { api, getSession, logout, updateUser, onSessionChange } from '../api.js';
import { h, form, actionButton, initials, languagePicker, toast, busy } from '../dom.js';
import { t } from '../i18n.js';
import { enterKeyPicker } from '../prefs.js';
import { notificationStatus, turnOn, turnOff } from '../notify.js';

function profileForm(user) {
  return form({
    id: 'profile',
    submit: t('common.save'),
    fields: [{ name: 'display_name', label: t('auth.displayName'), value: user.display_name, required: true, maxlength: 64, autocomplete: 'name' }],
    async onSubmit(values) {
      const updated = await api('PATCH', '/me', values);
      updateUser(updated);
      toast(t('common.saved'));
    },
  });
}

function passwordForm() {
  return form({
    id: 'password',
    submit: t('me.changePassword'),
    fields: [
      { name: 'current_password', label: t('me.currentPassword'), type: 'password', required: true, autocomplete: 'current-password' },
      { name: 'new_password', label: t('me.newPassword'), type: 'password', required: true, minlength: 8, autocomplete: 'new-password', hint: t('me.passwordHint') },
    ],
    async onSubmit(values) {
      await api('POST', '/me/password', values);
      document.getElementById('password')?.reset();
      toast(t('me.passwordChanged'));
    },
  });
}

// notificationSettings turns notifications on this device on or off; the
// browser asks for permission only after this tap.
function notificationSettings() {
  const status = h('p', { class: 'hint', testid: 'notify-status', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'secondary', testid: 'notify-toggle' });
  const draw = () => {
    const state = notificationStatus();
    status.textContent = t(`notify.status.${state}`);
    button.textContent = state === 'on' ? t('notify.turnOff') : t('notify.turnOn');
    button.hidden = state === 'unsupported' || state === 'blocked';
  };
  button.addEventListener('click', async () => {
    await busy(button, () => (notificationStatus() === 'on' ? turnOff() : turnOn())).catch(() => {});
    draw();
  });
  draw();
  return [status, button];
}

export function meView() {
  const { user, tenant } = getSession();
  const section = (id, title, ...body) => h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...body);
  const nameEl = h('p', { class: 'profile-name', testid: 'me-name' }, user.display_name || user.username);
  const roleEl = h('p', { class: 'muted', testid: 'me-role' }, t(`role.${user.role}`));
  // My account may change while this is on screen (a new role, another device).
  const off = onSessionChange((next) => {
    if (!next) return;
    nameEl.textContent = next.user.display_name || next.user.username;
    roleEl.textContent = t(`role.${next.user.role}`);
  });
  const el = h('div', { class: 'page me' },
    h('div', { class: 'profile' },
      h('span', { class: 'avatar large', 'aria-hidden': 'true' }, initials(user.display_name || user.username)),
      h('div', null,
        nameEl,
        h('p', { class: 'muted' }, `@${user.username} · ${tenant}`),
        roleEl)),
    section('me-profile-title', t('me.profile'), profileForm(user)),
    section('me-password-title', t('me.password'), passwordForm()),
    section('me-notify-title', t('notify.title'), ...notificationSettings()),
    languagePicker(),
    enterKeyPicker(),
    actionButton(t('me.logout'), logout, { testid: 'logout', class: 'danger wide' }));
  return { title: t('me.title'), el, tabs: true, destroy: off };
}
