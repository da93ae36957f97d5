// Screens for people who are not logged in: log in, sign up, create a workspace.

import { login, signup, createTenant, takeSignOutNote } from '../api.js';
import { h, form, languagePicker } from '../dom.js';
import { t } from '../i18n.js';

const LAST_TENANT_KEY = 'parley.lastTenant';

const SLUG_PATTERN = '[a-z0-9][a-z0-9\\-]{1,38}';
const USERNAME_PATTERN = '[a-zA-Z0-9_.\\-]{3,32}';

function tenantField(name, value) {
  return {
    name,
    label: t('auth.workspace'),
    hint: t('auth.workspaceHint'),
    required: true,
    pattern: SLUG_PATTERN,
    autocomplete: 'organization',
    value: value || localStorage.getItem(LAST_TENANT_KEY) || '',
  };
}

function usernameField(autocomplete) {
  return { name: 'username', label: t('auth.username'), required: true, pattern: USERNAME_PATTERN, autocomplete };
}

function passwordField(autocomplete) {
  return { name: 'password', label: t('auth.password'), type: 'password', required: true, minlength: 8, autocomplete };
}

const displayNameField = () => ({ name: 'display_name', label: t('auth.displayName'), autocomplete: 'name', maxlength: 64 });

// authScreen lays out one of the three screens: a short welcome, the form,
// links to the other two screens and the language switch.
function authScreen(title, formEl, links) {
  const el = h('div', { class: 'auth' },
    h('div', { class: 'brand', 'aria-hidden': 'true' }, h('span', { class: 'brand-mark' }, 'P'), 'Parley'),
    h('p', { class: 'lead' }, t('auth.tagline')),
    formEl,
    h('nav', { class: 'auth-links', 'aria-label': t('auth.otherOptions') },
      links.map(([href, label, testid]) => h('a', { href, testid }, label))),
    languagePicker());
  return { title, el };
}

function remember(tenant) {
  localStorage.setItem(LAST_TENANT_KEY, tenant);
}

export function loginView(params, query) {
  // Why this app was logged out (a disabled account), said once.
  const note = takeSignOutNote();
  const formEl = form({
    id: 'login',
    submit: t('auth.login'),
    before: note && h('p', { class: 'notice', role: 'alert', testid: 'signed-out' }, t('auth.signedOut'), ' ', note),
    fields: [tenantField('tenant', query.get('tenant')), usernameField('username'), passwordField('current-password')],
    async onSubmit(values) {
      const tenant = values.tenant.toLowerCase();
      await login({ ...values, tenant });
      remember(tenant);
    },
  });
  return authScreen(t('auth.login'), formEl, [
    ['#/signup', t('auth.toSignup'), 'to-signup'],
    ['#/new', t('auth.toWorkspace'), 'to-workspace'],
  ]);
}

export function signupView(params, query) {
  const formEl = form({
    id: 'signup',
    submit: t('auth.signup'),
    fields: [
      tenantField('tenant', query.get('tenant')),
      usernameField('username'),
      displayNameField(),
      passwordField('new-password'),
      { name: 'invite_code', label: t('auth.inviteCode'), hint: t('auth.inviteHint'), value: query.get('invite') || '', autocomplete: 'off' },
    ],
    async onSubmit(values) {
      const tenant = values.tenant.toLowerCase();
      await signup({ ...values, tenant });
      remember(tenant);
    },
  });
  return authScreen(t('auth.signup'), formEl, [
    ['#/login', t('auth.toLogin'), 'to-login'],
    ['#/new', t('auth.toWorkspace'), 'to-workspace'],
  ]);
}

export function workspaceView() {
  const formEl = form({
    id: 'workspace',
    submit: t('auth.createWorkspace'),
    fields: [
      { ...tenantField('slug', ''), value: '', label: t('auth.workspaceSlug') },
      { name: 'name', label: t('auth.workspaceName'), required: true, maxlength: 100, autocomplete: 'organization' },
      usernameField('username'),
      displayNameField(),
      passwordField('new-password'),
    ],
    async onSubmit(values) {
      const slug = values.slug.toLowerCase();
      await createTenant({ ...values, slug });
      remember(slug);
    },
  });
  return authScreen(t('auth.createWorkspace'), formEl, [
    ['#/login', t('auth.toLogin'), 'to-login'],
    ['#/signup', t('auth.toSignup'), 'to-signup'],
  ]);
}
