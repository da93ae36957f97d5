// Parley's web client: the app shell, the hash router and the wiring between
// the login, the event stream, the room store and the screen on display.
//
// A view is a function (params, query) returning
//   { title, el, back?, actions?, tabs?, className?,
//     destroy?(), onEvent?(name, data), onConnection?(state), resync?() }.

import { getSession, onSessionChange, isTenantAdmin } from './api.js';
import { EventStream } from './stream.js';
import { applyEvent, loadRooms, clearRooms } from './store.js';
import { h } from './dom.js';
import { icon } from './icons.js';
import { navigate, setTitle } from './nav.js';
import { t, onLangChange, applyToDocument } from './i18n.js';
import { loginView, signupView, workspaceView } from './views/auth.js';
import { roomListView, browseView, newRoomView, meView } from './views/rooms.js';
import { chatView } from './views/chat.js';
import { membersView } from './views/members.js';
import { adminView } from './views/admin.js';
import { mentionsView } from './views/mentions.js';
import { searchView } from './views/search.js';

const routes = [
  { path: '/login', view: loginView, public: true },
  { path: '/signup', view: signupView, public: true },
  { path: '/new', view: workspaceView, public: true },
  { path: '/rooms', view: roomListView },
  { path: '/new-room', view: newRoomView },
  { path: '/browse', view: browseView },
  { path: '/me', view: meView },
  { path: '/mentions', view: mentionsView },
  { path: '/search', view: searchView },
  { path: '/rooms/:id', view: chatView },
  { path: '/rooms/:id/members', view: membersView },
  { path: '/admin', redirect: '/admin/rooms' },
  { path: '/admin/:tab', view: adminView, admin: true },
].map((route) => ({
  ...route,
  names: [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]),
  regexp: new RegExp(`^${route.path.replace(/:\w+/g, '([^/]+)')}$`),
}));

const shell = {
  back: document.getElementById('back'),
  title: document.getElementById('view-title'),
  actions: document.getElementById('actions'),
  banner: document.getElementById('conn-status'),
  main: document.getElementById('view'),
  tabbar: document.getElementById('tabbar'),
};

let current = null;
let firstRender = true;

const stream = new EventStream({
  onEvent(name, data) {
    applyEvent(name, data);
    current?.onEvent?.(name, data);
  },
  onState(state) {
    shell.banner.textContent = state === 'reconnecting' ? t('conn.reconnecting') : '';
    shell.banner.dataset.state = state;
    current?.onConnection?.(state);
  },
  onOpen(resumed) {
    if (resumed) return;
    loadRooms().catch(() => {});
    current?.resync?.();
  },
});

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

function findRoute(path) {
  for (const route of routes) {
    const match = route.regexp.exec(path);
    if (match) {
      try {
        const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
        return { route, params };
      } catch {
        return null; // a malformed %-escape
      }
    }
  }
  return null;
}

function render() {
  const { path, query } = parseHash();
  const loggedIn = Boolean(getSession());
  const found = findRoute(path);
  const home = loggedIn ? '/rooms' : '/login';
  if (!found || (found.route.public && loggedIn) || (!found.route.public && !loggedIn)
      || (found.route.admin && !isTenantAdmin())) {
    navigate(home, { replace: true });
    return;
  }
  if (found.route.redirect) {
    navigate(found.route.redirect, { replace: true });
    return;
  }
  current?.destroy?.();
  current = found.route.view(found.params, query);
  mount(current);
}

function mount(view) {
  setTitle(view.title);
  shell.back.hidden = !view.back;
  if (view.back) shell.back.href = `#${view.back}`;
  shell.actions.replaceChildren(...(view.actions || []));
  shell.main.className = `view ${view.className || ''}`;
  shell.main.replaceChildren(view.el);
  renderTabbar(view.tabs);
  // Tell screen readers where they are: focus the new screen's heading.
  if (!firstRender) shell.title.focus({ preventScroll: true });
  firstRender = false;
}

function renderTabbar(show) {
  shell.tabbar.hidden = !show;
  if (!show) return;
  const here = parseHash().path;
  const tabs = [
    { path: '/rooms', icon: 'chats', label: t('nav.rooms') },
    { path: '/browse', icon: 'search', label: t('nav.browse') },
    isTenantAdmin() && { path: '/admin/rooms', icon: 'admin', label: t('nav.admin'), prefix: '/admin' },
    { path: '/me', icon: 'me', label: t('nav.me') },
  ].filter(Boolean);
  shell.tabbar.setAttribute('aria-label', t('nav.label'));
  shell.tabbar.replaceChildren(...tabs.map((tab) => {
    const active = here === tab.path || (tab.prefix && here.startsWith(tab.prefix));
    return h('a', { href: `#${tab.path}`, testid: `nav-${tab.path.split('/')[1]}`, 'aria-current': active ? 'page' : null },
      icon(tab.icon),
      h('span', { class: 'tab-label' }, tab.label));
  }));
}

function startSession() {
  loadRooms().catch(() => {});
  stream.start();
}

onSessionChange((next, before) => {
  if (!next) {
    stream.stop();
    clearRooms();
    navigate('/login');
  } else if (!before || before.user.id !== next.user.id) {
    stream.stop();
    clearRooms();
    startSession();
    navigate('/rooms');
  }
});

onLangChange(() => {
  shell.back.setAttribute('aria-label', t('nav.back'));
  document.getElementById('toast').textContent = '';
  render();
});

window.addEventListener('hashchange', render);

applyToDocument();
shell.back.setAttribute('aria-label', t('nav.back'));
shell.back.replaceChildren(icon('back'));
if (getSession()) startSession();
render();
