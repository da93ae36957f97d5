// The chat screen: history (older pages load on scroll-up), live messages from
// the shared event stream, and a composer whose sends carry a client_id, so a
// retry after a failure never posts the message twice. The header says who is
// typing (and, in a direct message, whether the other person is online);
// "Seen by N" under my latest message follows the members' read markers.

import { api, getSession, isTenantAdmin } from '../api.js';
import { getRoom, upsertRoom, setActiveRoom, markRoomRead, isOnline, setOnline } from '../store.js';
import { h, dialog, toast, errorText, uid, actionButton } from '../dom.js';
import { t, formatTime } from '../i18n.js';
import { navigate, setTitle } from '../nav.js';
import { icon } from '../icons.js';
import { linkify } from '../format.js';
import { startDM } from './people.js';

const PAGE_SIZE = 50;
const NEAR_BOTTOM_PX = 80;
const MAX_BODY = 4000; // characters, as the server counts them
const COUNTER_FROM = 3500; // show how many are left from here on
const TYPING_EVERY_MS = 3000; // tell the room at most this often while typing
const TYPING_SHOWN_MS = 5000; // someone stops "typing" this long after their last signal
const SEEN_MAX_MEMBERS = 50; // "Seen by" is shown in rooms up to this size
const coarsePointer = window.matchMedia('(pointer: coarse)');

// length counts characters as the server does (code points, after trimming).
const length = (text) => Array.from(text.trim()).length;

export function chatView({ id }) {
  const path = `/rooms/${encodeURIComponent(id)}`;
  const me = getSession().user;
  let room = getRoom(id) || null;
  const entries = new Map(); // message id → {message, el}
  const pending = new Map(); // client_id → {client_id, body, status, error, el}
  let oldest = 0;
  let newest = 0;
  let hasMore = false;
  let loaded = false;
  let loadingOlder = false;
  let catchingUp = false;
  let readSeq = room ? room.last_seq - (room.unread || 0) : 0;
  let editing = null;
  let readTimer = 0;
  let typingSentAt = 0;
  let typingTimer = 0;
  const typers = new Map(); // user id → {name, timer}
  let members = null; // user id → {user, read_seq}, in rooms small enough for "Seen by"
  let membersTimer = 0;
  let seenOpen = false;

  // ---- layout ----
  const edge = h('div', { class: 'history-edge', testid: 'history-edge' });
  const list = h('ol', { class: 'messages', id: 'message-list', testid: 'message-list' });
  const pendingList = h('ol', { class: 'messages', testid: 'pending-list' });
  const log = h('div', { class: 'log', role: 'log', tabindex: '0', 'aria-label': t('chat.messages') }, edge, list, pendingList);
  const jump = h('button', { type: 'button', class: 'jump', hidden: true, testid: 'jump', onclick: () => scrollToEnd('smooth') }, t('chat.newBelow'));
  const counter = h('p', { class: 'counter', id: 'composer-counter', testid: 'composer-counter', hidden: true });
  const input = h('textarea', {
    id: 'composer-input', rows: '1', enterkeyhint: 'send', 'aria-describedby': 'composer-counter',
    placeholder: t('chat.placeholder'), 'aria-label': t('chat.messageLabel'),
  });
  const subtitle = h('span', { testid: 'chat-status' });
  const seen = h('div', { class: 'seen', testid: 'seen' });
  const sendButton = h('button', { type: 'submit', class: 'send', testid: 'send', 'aria-label': t('chat.send') },
    icon('send'));
  const editNote = h('div', { class: 'edit-note', hidden: true },
    h('span', null, t('chat.editing')),
    h('button', { type: 'button', class: 'link', testid: 'edit-cancel', onclick: stopEditing }, t('common.cancel')));
  const composer = h('form', { class: 'composer', id: 'composer', testid: 'composer' },
    editNote, h('div', { class: 'composer-row' }, input, sendButton), counter);
  const footer = h('div', { class: 'chat-footer' });
  const el = h('div', { class: 'chat' }, log, jump, footer);

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (event) => {
    // Enter sends on a keyboard; on a phone it is a new line (the button sends).
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !coarsePointer.matches) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape' && editing) {
      stopEditing();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    drawCounter();
    signalTyping();
  });
  log.addEventListener('scroll', () => {
    if (nearBottom()) {
      jump.hidden = true;
      scheduleRead();
    }
  }, { passive: true });
  const observer = new IntersectionObserver((seen) => {
    if (seen.some((e) => e.isIntersecting)) loadOlder();
  }, { root: log, rootMargin: '300px 0px 0px 0px' });
  const onVisible = () => scheduleRead();
  document.addEventListener('visibilitychange', onVisible);
  setActiveRoom(id);

  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToEnd(behavior = 'auto') {
    log.scrollTo({ top: log.scrollHeight, behavior });
    jump.hidden = true;
  }

  // ---- rendering one message ----
  function canModerate() {
    return isTenantAdmin() || room?.my_role === 'owner' || room?.my_role === 'moderator';
  }

  function statusNode(status, item) {
    if (status === 'pending') return h('span', { class: 'status' }, t('chat.sending'));
    if (status === 'failed') {
      return h('span', { class: 'status failed', role: 'alert' },
        item.error?.retryable ? t('chat.failed') : `${t('chat.failed')}: ${errorText(item.error)}`,
        h('button', { type: 'button', class: 'link', testid: 'msg-retry', onclick: () => deliver(item) }, t('chat.retry')),
        h('button', { type: 'button', class: 'link', testid: 'msg-discard', onclick: () => dropPending(item.client_id) }, t('chat.discard')));
    }
    return h('span', { class: 'status sent' },
      h('span', { 'aria-hidden': 'true' }, '✓'), h('span', { class: 'sr-only' }, t('chat.sent')));
  }

  function messageTools(message, mine) {
    const canEdit = mine && !message.deleted && !room?.archived;
    const canDelete = !message.deleted && (mine || canModerate());
    if (!canEdit && !canDelete) return null;
    const menuId = `msg-actions-${message.id}`;
    const menu = h('div', { class: 'msg-actions', id: menuId, hidden: true },
      canEdit && h('button', { type: 'button', testid: 'msg-edit', onclick: () => startEditing(message) }, t('chat.edit')),
      canDelete && h('button', { type: 'button', class: 'danger', testid: 'msg-delete', onclick: () => remove(message) }, t('chat.delete')));
    const toggle = h('button', {
      type: 'button', class: 'msg-more', testid: 'msg-more',
      'aria-expanded': 'false', 'aria-controls': menuId, 'aria-label': t('chat.actions'),
    }, icon('more'));
    toggle.addEventListener('click', () => {
      const open = menu.hidden;
      menu.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
    });
    return h('div', { class: 'msg-tools' }, toggle, menu);
  }

  // authorNode is the name above a message; tapping someone else's name in a
  // room starts a direct message with them.
  function authorNode(message, mine) {
    const name = mine ? t('chat.you') : (message.author?.display_name || message.author?.username || '?');
    if (mine || room?.kind === 'dm' || !message.author?.id) {
      return h('span', { class: mine ? 'msg-author sr-only' : 'msg-author' }, name);
    }
    return h('button', {
      type: 'button', class: 'msg-author', testid: 'msg-author', 'aria-label': t('people.messageTo', { name }),
      onclick: () => startDM(message.author.id).catch((err) => toast(errorText(err))),
    }, name);
  }

  function messageNode(message, status, item) {
    const mine = message.author?.id === me.id;
    return h('li', {
      class: `msg${mine ? ' mine' : ''}${message.deleted ? ' deleted' : ''}`,
      testid: 'message',
      'data-id': message.id,
      'data-seq': message.seq,
      'data-client-id': message.client_id || null,
      'data-status': status,
      'data-author': message.author?.username,
    },
    authorNode(message, mine),
    h('p', { class: 'msg-body' }, message.deleted ? t('chat.deleted') : linkify(message.body)),
    h('p', { class: 'msg-meta' },
      h('time', { datetime: message.created_at }, formatTime(message.created_at)),
      message.edited_at && !message.deleted && h('span', null, t('chat.edited')),
      mine && statusNode(status, item)),
    !item && messageTools(message, mine));
  }

  // groupRuns marks a message that follows one by the same author, so its
  // author's name is not repeated (the node and the one after it may change).
  function groupRuns(node) {
    for (const el of [node, node.nextElementSibling]) {
      const prev = el?.previousElementSibling;
      if (el) el.classList.toggle('cont', Boolean(prev) && prev.dataset.author === el.dataset.author);
    }
  }

  // place inserts a server message in seq order, or redraws it when known.
  // It returns true when the message is new here.
  function place(message) {
    const node = messageNode(message, 'sent');
    const known = entries.get(message.id);
    if (known) {
      known.el.replaceWith(node);
      Object.assign(known, { message, el: node });
      groupRuns(node);
      if (editing?.id === message.id && message.deleted) stopEditing();
      drawSeen();
      return false;
    }
    entries.set(message.id, { message, el: node });
    if (!newest || message.seq > newest) {
      list.append(node);
    } else if (message.seq < oldest) {
      list.prepend(node);
    } else {
      let before = list.lastElementChild;
      while (before?.previousElementSibling && Number(before.previousElementSibling.dataset.seq) > message.seq) {
        before = before.previousElementSibling;
      }
      list.insertBefore(node, before);
    }
    groupRuns(node);
    newest = Math.max(newest, message.seq);
    oldest = oldest ? Math.min(oldest, message.seq) : message.seq;
    if (message.author?.id === me.id) drawSeen();
    return true;
  }

  // receive handles a live message from the stream or a send's response.
  function receive(message) {
    const stick = nearBottom();
    if (loaded && newest && message.seq > newest + 1) catchUp(newest); // a gap: fetch what is missing
    const mine = message.author?.id === me.id;
    if (mine && message.client_id && pending.has(message.client_id)) dropPending(message.client_id);
    stopTyping(message.author?.id);
    if (message.author?.id && members?.has(message.author.id)) {
      // Whoever posts has read up to their post.
      const member = members.get(message.author.id);
      member.read_seq = Math.max(member.read_seq || 0, message.seq);
    }
    if (place(message)) {
      if (entries.size === 1) drawEdge(); // no longer "no messages yet"
      if (stick || mine) scrollToEnd();
      else jump.hidden = false;
    }
    scheduleRead();
  }

  // ---- history ----
  function drawEdge() {
    if (!loaded) edge.replaceChildren(t('common.loading'));
    else if (loadingOlder) edge.replaceChildren(t('chat.loadingOlder'));
    else if (hasMore) edge.replaceChildren(h('button', { type: 'button', class: 'link', testid: 'load-older', onclick: loadOlder }, t('chat.loadOlder')));
    else if (entries.size) edge.replaceChildren(t('chat.beginning'));
    else edge.replaceChildren(room?.archived ? t('chat.emptyArchived') : t('chat.empty'));
  }

  async function load() {
    drawEdge();
    const [roomResult, pageResult] = await Promise.allSettled([
      api('GET', path),
      api('GET', `${path}/messages?limit=${PAGE_SIZE}`),
    ]);
    if (roomResult.status === 'rejected') {
      edge.replaceChildren(h('p', { role: 'alert' }, errorText(roomResult.reason)));
      return;
    }
    room = { ...room, ...roomResult.value };
    if (room.my_role) upsertRoom(room);
    setTitle(room.name);
    drawFooter();
    drawStatus();
    if (pageResult.status === 'fulfilled') {
      for (const message of pageResult.value.messages || []) place(message);
      hasMore = Boolean(pageResult.value.has_more);
    }
    loaded = true;
    drawEdge();
    scrollToEnd();
    scheduleRead();
    observer.observe(edge);
    loadMembers();
  }

  // ---- who has read what, and who is typing ----
  async function loadMembers() {
    clearTimeout(membersTimer);
    if (!room?.my_role || (room.member_count || 0) > SEEN_MAX_MEMBERS) {
      members = null;
      drawSeen();
      return;
    }
    try {
      const list = await api('GET', `${path}/members`);
      members = new Map((list || []).map((m) => [m.user.id, { user: m.user, read_seq: m.read_seq || 0 }]));
      for (const m of list || []) setOnline(m.user.id, Boolean(m.online));
    } catch {
      members = null;
    }
    drawSeen();
    drawStatus();
  }

  // drawSeen puts "Seen by N" under my latest message: N members (not me)
  // whose read marker has reached it. Tapping it lists their names.
  function drawSeen() {
    seen.remove();
    if (!members) return;
    let latest = null;
    for (const entry of entries.values()) {
      if (entry.message.author?.id === me.id && !entry.message.deleted && (!latest || entry.message.seq > latest.seq)) latest = entry.message;
    }
    if (!latest) return;
    const seers = [...members.values()].filter((m) => m.user.id !== me.id && m.read_seq >= latest.seq);
    if (!seers.length) return;
    const names = seers.map((m) => m.user.display_name || m.user.username).sort((a, b) => a.localeCompare(b));
    const toggle = h('button', {
      type: 'button', class: 'link seen-toggle', testid: 'seen-by', 'aria-expanded': String(seenOpen), 'aria-controls': 'seen-names',
      onclick: () => { seenOpen = !seenOpen; drawSeen(); },
    }, t('chat.seenBy', { n: seers.length }));
    seen.replaceChildren(toggle, seenOpen && h('p', { class: 'seen-names', id: 'seen-names', testid: 'seen-names' }, names.join(', ')));
    entries.get(latest.id)?.el.append(seen);
  }

  // drawStatus fills the line under the title: who is typing, or, in a
  // direct message, whether the other person is online.
  function drawStatus() {
    const names = [...typers.values()].map((x) => x.name);
    let text = '';
    if (names.length === 1) text = t('chat.typingOne', { name: names[0] });
    else if (names.length === 2) text = t('chat.typingTwo', { a: names[0], b: names[1] });
    else if (names.length > 2) text = t('chat.typingMany');
    else if (room?.kind === 'dm' && room.peer && isOnline(room.peer.id)) text = t('chat.online');
    subtitle.textContent = text;
    subtitle.dataset.typing = String(names.length > 0);
  }

  function startTyping(user) {
    if (!user?.id || user.id === me.id) return;
    clearTimeout(typers.get(user.id)?.timer);
    typers.set(user.id, { name: user.display_name || user.username, timer: setTimeout(() => stopTyping(user.id), TYPING_SHOWN_MS) });
    drawStatus();
  }

  function stopTyping(userId) {
    const typer = typers.get(userId);
    if (!typer) return;
    clearTimeout(typer.timer);
    typers.delete(userId);
    drawStatus();
  }

  // signalTyping tells the room I am typing, at most every few seconds: typing
  // within that time is told once the time is up, if there is still a draft.
  function signalTyping() {
    if (editing || !room?.my_role || room.archived || !input.value.trim()) return;
    const wait = typingSentAt + TYPING_EVERY_MS - Date.now();
    if (wait > 0) {
      if (!typingTimer) typingTimer = setTimeout(() => { typingTimer = 0; signalTyping(); }, wait);
      return;
    }
    typingSentAt = Date.now();
    api('POST', `${path}/typing`).catch(() => {});
  }

  // drawCounter shows, near the limit, how many characters are left (or how
  // many too many: a long paste is never cut silently).
  function drawCounter() {
    const n = length(input.value);
    counter.hidden = n < COUNTER_FROM;
    counter.classList.toggle('over', n > MAX_BODY);
    counter.textContent = n > MAX_BODY ? t('chat.tooLong', { n: n - MAX_BODY }) : t('chat.charsLeft', { n: MAX_BODY - n });
    sendButton.disabled = n > MAX_BODY;
  }

  async function loadOlder() {
    if (loadingOlder || !hasMore || !loaded) return;
    loadingOlder = true;
    log.setAttribute('aria-busy', 'true');
    drawEdge();
    const fromBottom = log.scrollHeight - log.scrollTop;
    let ok = false;
    try {
      const page = await api('GET', `${path}/messages?before_seq=${oldest}&limit=${PAGE_SIZE}`);
      for (const message of [...(page.messages || [])].reverse()) place(message);
      hasMore = Boolean(page.has_more);
      ok = true;
    } catch (err) {
      toast(errorText(err));
    } finally {
      loadingOlder = false;
      log.removeAttribute('aria-busy');
      drawEdge();
      log.scrollTop = log.scrollHeight - fromBottom; // keep what was on screen in place
    }
    if (ok && hasMore && log.scrollTop < 300) loadOlder();
  }

  // catchUp fetches every message after seq (after a gap or a reconnect that
  // could not resume).
  async function catchUp(after) {
    if (catchingUp || !loaded) return;
    catchingUp = true;
    const stick = nearBottom();
    try {
      let from = after;
      for (;;) {
        const page = await api('GET', `${path}/messages?after_seq=${from}&limit=200`);
        const messages = page.messages || [];
        for (const message of messages) place(message);
        if (!page.has_more || !messages.length) break;
        from = messages[messages.length - 1].seq;
      }
    } catch {
      // the stream's next reconnect tries again
    } finally {
      catchingUp = false;
    }
    if (stick) scrollToEnd();
    scheduleRead();
  }

  // ---- read marker ----
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(markRead, 300);
  }

  async function markRead() {
    if (!loaded || !room?.my_role || document.visibilityState !== 'visible' || !nearBottom() || newest <= readSeq) return;
    readSeq = newest;
    markRoomRead(id);
    try {
      await api('POST', `${path}/read`, { seq: readSeq });
    } catch {
      // not fatal: the marker moves on with the next read
    }
  }

  // ---- sending ----
  function submit() {
    const body = input.value.trim();
    if (!body) return;
    if (length(body) > MAX_BODY) {
      drawCounter();
      toast(t('chat.tooLong', { n: length(body) - MAX_BODY }));
      return;
    }
    if (editing) {
      saveEdit(editing, body);
      return;
    }
    input.value = '';
    autosize();
    drawCounter();
    const item = { client_id: uid(), body, status: 'pending', error: null, el: null };
    pending.set(item.client_id, item);
    drawPending(item);
    scrollToEnd();
    deliver(item);
  }

  function drawPending(item) {
    const pseudo = { body: item.body, author: me, client_id: item.client_id, created_at: new Date().toISOString() };
    const node = messageNode(pseudo, item.status, item);
    if (item.el) item.el.replaceWith(node);
    else pendingList.append(node);
    item.el = node;
  }

  async function deliver(item) {
    item.status = 'pending';
    drawPending(item);
    try {
      const message = await api('POST', `${path}/messages`, { body: item.body, client_id: item.client_id });
      receive(message);
    } catch (err) {
      if (!pending.has(item.client_id)) return;
      item.status = 'failed';
      item.error = err;
      drawPending(item);
    }
  }

  function dropPending(clientId) {
    pending.get(clientId)?.el.remove();
    pending.delete(clientId);
  }

  function startEditing(message) {
    editing = message;
    input.value = message.body;
    editNote.hidden = false;
    sendButton.setAttribute('aria-label', t('chat.save'));
    autosize();
    input.focus();
  }

  function stopEditing() {
    editing = null;
    editNote.hidden = true;
    sendButton.setAttribute('aria-label', t('chat.send'));
    input.value = '';
    autosize();
    drawCounter();
  }

  async function saveEdit(message, body) {
    if (body === message.body) {
      stopEditing();
      return;
    }
    try {
      const updated = await api('PATCH', `${path}/messages/${encodeURIComponent(message.id)}`, { body });
      place(updated || { ...message, body, edited_at: new Date().toISOString() });
      stopEditing();
    } catch (err) {
      toast(errorText(err));
    }
  }

  async function remove(message) {
    const ok = await dialog({ title: t('chat.deleteConfirm'), message: message.body.slice(0, 140), confirm: t('chat.delete'), danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `${path}/messages/${encodeURIComponent(message.id)}`);
      place({ ...message, body: '', deleted: true });
    } catch (err) {
      toast(errorText(err));
    }
  }

  // ---- footer: composer, join button or read-only note ----
  function drawFooter() {
    if (!room) {
      footer.replaceChildren();
    } else if (!room.my_role) {
      footer.replaceChildren(h('div', { class: 'footer-note' },
        room.visibility === 'public' && actionButton(t('browse.join'), async () => {
          room = await api('POST', `${path}/join`);
          upsertRoom(room);
          drawFooter();
          loaded = false;
          await load();
        }, { testid: 'join-room', class: 'primary wide' })));
    } else if (room.archived) {
      footer.replaceChildren(h('p', { class: 'footer-note', testid: 'archived-note' }, t('chat.archived')));
    } else if (!footer.contains(composer)) {
      footer.replaceChildren(composer);
    }
  }

  load().catch((err) => toast(errorText(err)));
  drawStatus();

  return {
    title: room?.name || t('chat.title'),
    subtitle,
    back: '/rooms',
    className: 'view-chat',
    el,
    actions: [h('a', { class: 'icon-button', href: `#${path}/members`, testid: 'room-members', 'aria-label': t('chat.members') },
      icon('members'))],
    onEvent(name, data) {
      if (data.room_id && data.room_id !== id) return;
      switch (name) {
        case 'message.created':
          receive(data.message);
          break;
        case 'message.updated':
        case 'message.deleted':
          // an edit of a message not loaded here matters only if it is newer
          if (entries.has(data.message.id)) place(data.message);
          else if (data.message.seq > newest) receive(data.message);
          break;
        case 'room.updated':
          if (data.room.id !== id) return;
          room = { ...room, ...data.room, my_role: room?.my_role || data.room.my_role };
          if (room.kind === 'dm') Object.assign(room, { name: getRoom(id)?.name || room.name, peer: getRoom(id)?.peer || room.peer });
          setTitle(room.name);
          drawFooter();
          drawEdge();
          break;
        case 'typing':
          startTyping(data.user);
          break;
        case 'presence':
          drawStatus();
          break;
        case 'read':
          if (members?.has(data.user_id)) {
            const member = members.get(data.user_id);
            member.read_seq = Math.max(member.read_seq, data.seq);
            drawSeen();
          }
          break;
        case 'member.left':
          clearTimeout(membersTimer);
          membersTimer = setTimeout(loadMembers, 300);
          break;
        case 'room.deleted':
        case 'room.left':
          toast(name === 'room.deleted' ? t('chat.roomDeleted') : t('chat.roomLeft'));
          navigate('/rooms', { replace: true });
          break;
        case 'member.joined':
          if (data.user?.id === me.id && room) {
            room.my_role = data.role || 'member';
            drawFooter();
          }
          if (room) room.member_count = getRoom(id)?.member_count ?? room.member_count;
          clearTimeout(membersTimer);
          membersTimer = setTimeout(loadMembers, 300);
          break;
        default:
      }
    },
    onConnection(state) {
      if (state !== 'live') return;
      for (const item of pending.values()) if (item.status === 'failed' && item.error?.retryable) deliver(item);
    },
    resync() {
      catchUp(newest);
      loadMembers(); // read markers moved while the stream was down
    },
    destroy() {
      setActiveRoom(null);
      observer.disconnect();
      clearTimeout(readTimer);
      clearTimeout(membersTimer);
      clearTimeout(typingTimer);
      for (const typer of typers.values()) clearTimeout(typer.timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
