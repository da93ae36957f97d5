// Parley's web client: the app shell, the hash router and the wiring between
// the login, the event stream, the room store and the screen on display.
//
// A view is a function (params, query, scope) returning
//   { title, el, back?, actions?, tabs?, className?, update?(params, query),
//     destroy?(), onEvent?(name, data), onConnection?(state), resync?() }.
// scope (nav.js viewScope) holds the navigate and setTitle the view must use
// for anything it does after an await: they do nothing once the view is left.
// A view with update() changes in place when only its route's params change
// (the admin sections), so what the person is touching stays where it is.

import { getSession, onSessionChange, isTenantAdmin, updateUser, refreshMe, isOffline, onOfflineChange } from './api.js';
import { EventStream } from './stream.js';
import { applyEvent, loadRooms, clearRooms, getRoom, roomList, onRoomsChange, activeRoomId } from './store.js';
import { showCount, badgeCount, notifyMessage, notificationsOn, subscribePush } from './notify.js';
import { h } from './dom.js';
import { icon } from './icons.js';
import { navigate, setTitle, viewScope } from './nav.js';
import { t, onLangChange, applyToDocument } from './i18n.js';
import { loginView, signupView, workspaceView } from './views/auth.js';
import { roomListView, browseView, newRoomView } from './views/rooms.js';
import { meView } from './views/me.js';
import { peopleView } from './views/people.js';
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
  { path: '/people', view: peopleView },
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
  sub: document.getElementById('view-sub'),
  actions: document.getElementById('actions'),
  banner: document.getElementById('conn-status'),
  main: document.getElementById('view'),
  tabbar: document.getElementById('tabbar'),
};

let current = null; // the view on screen
let currentRoute = null;
let currentScope = null;
let firstRender = true;

const stream = new EventStream({
  onEvent(name, data) {
    if (name === 'user.updated') updateUser(data.user); // e.g. made an admin: the Admin tab comes at once
    if (name === 'message.created') notifyMessage(getRoom(data.room_id), data.message, activeRoomId()).catch(() => {});
    applyEvent(name, data);
    current?.onEvent?.(name, data);
  },
  onState(state) {
    drawBanner();
    current?.onConnection?.(state);
  },
  onOpen(resumed) {
    refreshMe(); // what changed while the stream was down (a role) is not replayed
    if (resumed) return;
    loadRooms().catch(() => {});
    current?.resync?.();
  },
});

// drawBanner says when the app is offline (showing what it saved) or
// reconnecting its live stream.
function drawBanner() {
  const state = isOffline() ? 'offline' : stream.state;
  shell.banner.textContent = state === 'offline' ? t('conn.offline') : state === 'reconnecting' ? t('conn.reconnecting') : '';
  shell.banner.dataset.state = state;
}
onOfflineChange(drawBanner);

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

// render shows the screen of the URL. rebuild (a new language) makes even a
// view that could update in place start afresh.
function render({ rebuild = false } = {}) {
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
  if (!rebuild && found.route === currentRoute && current.update) {
    current.update(found.params, query);
    mount(current, path, { fresh: false });
    return;
  }
  current?.destroy?.();
  currentScope?.end();
  currentScope = viewScope();
  currentRoute = found.route;
  current = found.route.view(found.params, query, currentScope);
  mount(current, path, { fresh: true });
}

function mount(view, path, { fresh }) {
  setTitle(view.title);
  shell.sub.replaceChildren(view.subtitle || '');
  shell.back.hidden = !view.back;
  if (view.back) shell.back.href = `#${view.back}`;
  shell.actions.replaceChildren(...(view.actions || []));
  shell.main.className = `view ${view.className || ''}`;
  if (shell.main.firstChild !== view.el) shell.main.replaceChildren(view.el);
  shell.main.scrollTop = 0;
  shell.main.dataset.route = path; // what is on screen (tests wait for it to match the URL)
  renderTabbar(view.tabs);
  // Tell screen readers where they are: focus the new screen's heading. (A
  // section changed in place keeps the focus on the tab that was tapped.)
  if (fresh && !firstRender) shell.title.focus({ preventScroll: true });
  firstRender = false;
}

// The tab bar's links are made once (again only when the tabs or the language
// change) and then only marked, so a tap on one is never lost to a redraw that
// replaces it between the finger going down and coming up.
let tabbarKey = '';
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
  const key = tabs.map((tab) => `${tab.path}=${tab.label}`).join('|');
  if (key !== tabbarKey) {
    tabbarKey = key;
    shell.tabbar.setAttribute('aria-label', t('nav.label'));
    shell.tabbar.replaceChildren(...tabs.map((tab) => h('a', { href: `#${tab.path}`, testid: `nav-${tab.path.split('/')[1]}` },
      icon(tab.icon),
      h('span', { class: 'tab-label' }, tab.label))));
  }
  tabs.forEach((tab, i) => {
    const active = here === tab.path || (tab.prefix && here.startsWith(tab.prefix));
    const link = shell.tabbar.children[i];
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  });
}

function startSession() {
  loadRooms().catch(() => {});
  stream.start();
  if (notificationsOn()) subscribePush().catch(() => {}); // this login's push subscription
}

// The unread count in the title and on the app icon follows the rooms.
onRoomsChange(() => showCount(getSession() ? badgeCount(roomList()) : 0));

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
  } else if (before.user.role !== next.user.role) {
    // Promoted or demoted: the tabs follow at once, and an admin screen
    // closes for someone who is no longer an admin.
    if (findRoute(parseHash().path)?.route.admin && !isTenantAdmin()) navigate('/rooms', { replace: true });
    else renderTabbar(current?.tabs);
  }
});

// Coming back to the app: my account may have changed meanwhile.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refreshMe();
});

onLangChange(() => {
  shell.back.setAttribute('aria-label', t('nav.back'));
  document.getElementById('toast').textContent = '';
  render({ rebuild: true });
});

window.addEventListener('hashchange', () => render());

// The service worker keeps the app shell for offline use and shows pushes; a
// tap on a notification asks the open app to show its room.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch(() => {});
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type === 'open' && typeof event.data.hash === 'string' && event.data.hash.startsWith('#/')) {
      navigate(event.data.hash.slice(1));
    }
  });
}

applyToDocument();
shell.back.setAttribute('aria-label', t('nav.back'));
shell.back.replaceChildren(icon('back'));
if (getSession()) startSession();
render();
