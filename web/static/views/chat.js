// The chat screen: history (older pages load on scroll-up), live messages from
// the shared event stream, and a composer whose sends carry a client_id, so a
// retry after a failure never posts the message twice. The header says who is
// typing (and, in a direct message, whether the other person is online);
// "Seen by N" under my latest message follows the members' read markers.

import { api, upload, getSession, isTenantAdmin, isOffline, onOfflineChange, saveOffline } from '../api.js';
import { getRoom, upsertRoom, setActiveRoom, markRoomRead, isOnline, setOnline } from '../store.js';
import { h, dialog, toast, errorText, uid, actionButton } from '../dom.js';
import { t, formatTime } from '../i18n.js';
import { enterSends } from '../prefs.js';
import { rovingList } from '../roving.js';
import { icon } from '../icons.js';
import { formatBody } from '../format.js';
import { startDM } from './people.js';
import { attachmentsNode, filesSummary, formatSize } from '../files.js';

// The fixed reaction picker; any other single emoji can be typed in.
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '🙏'];
const MAX_SUGGESTIONS = 6;

const PAGE_SIZE = 50;
const NEAR_BOTTOM_PX = 80;
const MAX_BODY = 4000; // characters, as the server counts them
const COUNTER_FROM = 3500; // show how many are left from here on
const TYPING_EVERY_MS = 3000; // tell the room at most this often while typing
const TYPING_SHOWN_MS = 5000; // someone stops "typing" this long after their last signal
const SEEN_MAX_MEMBERS = 50; // "Seen by" is shown in rooms up to this size
const ANNOUNCED_KEPT = 3; // live messages kept in the announcer (older ones are heard already)
const MAX_FILES = 10; // per message, as the server allows

// length counts characters as the server does (code points, after trimming).
const length = (text) => Array.from(text.trim()).length;

// firstLine is the start of a text, on one line, for quotes and notes.
export function firstLine(text, max = 80) {
  const line = String(text || '').split('\n').find((l) => l.trim()) || '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

export function chatView({ id }, query, { navigate, setTitle, signal }) {
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
  let replyingTo = null;
  let openMenu = null; // {id, picker}: the message whose actions stay open when it is redrawn
  let readTimer = 0;
  let typingSentAt = 0;
  let typingTimer = 0;
  const typers = new Map(); // user id → {name, timer}
  let readSeqs = null; // user id → read_seq, in rooms small enough for "Seen by"
  let membersTimer = 0;
  let saveTimer = 0;
  let seenOpen = false;
  let older = null; // the page of older messages being loaded
  const members = new Map(); // user id → user, for names of who reacted and @suggestions
  const roles = new Map(); // user id → room role, of the members
  const people = new Map(); // user id → user: members and authors shown, to tell apart people who share a name
  let sameName = new Set(); // ids of the people whose display name someone else here shares

  // ---- layout ----
  const edge = h('div', { class: 'history-edge', testid: 'history-edge' });
  const list = h('ol', { class: 'messages', id: 'message-list', testid: 'message-list', 'aria-label': t('chat.messages') });
  const pendingList = h('ol', { class: 'messages', testid: 'pending-list', 'aria-label': t('chat.pendingList') });
  // The history is not a live region (a screen reader would read all of it
  // out on opening): only messages that arrive live from others are put in
  // the announcer, once each.
  const log = h('div', { class: 'log', 'aria-busy': 'true' }, edge, list, pendingList);
  const announcer = h('div', { class: 'sr-only', role: 'log', 'aria-live': 'polite', testid: 'chat-announcer' });
  const roving = rovingList(log, 'li.msg', { onTop: () => loadOlder() });
  const jump = h('button', { type: 'button', class: 'jump', hidden: true, testid: 'jump', onclick: () => scrollToEnd('smooth') }, t('chat.newBelow'));
  const counter = h('p', { class: 'counter', id: 'composer-counter', testid: 'composer-counter', hidden: true });
  const input = h('textarea', {
    id: 'composer-input', rows: '1', enterkeyhint: enterSends() ? 'send' : 'enter', 'aria-describedby': 'composer-counter',
    placeholder: t('chat.placeholder'), 'aria-label': t('chat.messageLabel'),
    // (no aria-expanded: a textarea cannot be a combobox; the active
    // suggestion is told through aria-activedescendant)
    'aria-autocomplete': 'list', 'aria-controls': 'mention-suggest',
  });
  const subtitle = h('span', { testid: 'chat-status' });
  const seen = h('div', { class: 'seen', testid: 'seen' });
  const suggest = h('ul', { class: 'mention-suggest', id: 'mention-suggest', role: 'listbox', hidden: true,
    testid: 'mention-suggest', 'aria-label': t('chat.mentionSuggestions') });
  const replyText = h('span', { class: 'reply-text' });
  const replyNote = h('div', { class: 'reply-note', hidden: true, testid: 'reply-note' },
    replyText,
    h('button', { type: 'button', class: 'link', testid: 'reply-cancel', onclick: stopReplying }, t('common.cancel')));
  const sendButton = h('button', { type: 'submit', class: 'send', testid: 'send', 'aria-label': t('chat.send') },
    icon('send'));
  const editNote = h('div', { class: 'edit-note', hidden: true },
    h('span', null, t('chat.editing')),
    h('button', { type: 'button', class: 'link', testid: 'edit-cancel', onclick: stopEditing }, t('common.cancel')));
  // Files: any file, or the camera (a phone opens it straight away); each
  // starts uploading when picked, and goes with the next message sent. The
  // buttons come after the text field, so that Tab reaches it first.
  const picked = []; // {key, file, status: uploading|done|failed, progress, result, error, promise, abort, el}
  const tray = h('ul', { class: 'file-tray', testid: 'file-tray', hidden: true, 'aria-label': t('files.toSend') });
  const fileInput = h('input', { type: 'file', multiple: true, hidden: true, testid: 'file-input', tabindex: '-1' });
  const cameraInput = h('input', { type: 'file', accept: 'image/*', capture: 'environment', hidden: true, testid: 'camera-input', tabindex: '-1' });
  const attachButton = h('button', { type: 'button', class: 'attach', testid: 'attach', 'aria-label': t('files.attach'),
    onclick: () => fileInput.click() }, icon('clip'));
  const cameraButton = h('button', { type: 'button', class: 'attach', testid: 'camera', 'aria-label': t('files.camera'),
    onclick: () => cameraInput.click() }, icon('camera'));
  for (const picker of [fileInput, cameraInput]) {
    picker.addEventListener('change', () => {
      addFiles([...picker.files]);
      picker.value = '';
    });
  }
  const composer = h('form', { class: 'composer', id: 'composer', testid: 'composer' },
    suggest, editNote, replyNote, tray,
    h('div', { class: 'composer-row' }, input, attachButton, cameraButton, sendButton), counter, fileInput, cameraInput);
  const footer = h('div', { class: 'chat-footer' });
  const el = h('div', { class: 'chat' }, log, jump, footer, announcer);

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (event) => {
    if (!suggest.hidden && suggestKey(event)) return;
    // Enter sends unless Shift is held (or the person chose "Enter starts a
    // new line" on the Me screen); Ctrl/Cmd+Enter always sends. This holds on
    // phones and tablets too, hardware keyboard or not. Not while an input
    // method (Chinese, Japanese…) is composing: there Enter picks the text.
    const composing = event.isComposing || event.keyCode === 229;
    if (event.key === 'Enter' && !composing
        && (event.ctrlKey || event.metaKey || (!event.shiftKey && !event.altKey && enterSends()))) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape' && editing) {
      stopEditing();
    } else if (event.key === 'Escape' && replyingTo) {
      stopReplying();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    drawCounter();
    signalTyping();
    updateSuggestions();
  });
  input.addEventListener('blur', () => setTimeout(hideSuggestions, 150));
  // A picture pasted into the text field, or files dropped on the chat, are
  // attached as if picked (while the composer is there to send them).
  input.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    addFiles(files);
  });
  el.addEventListener('dragover', (event) => {
    if (footer.contains(composer) && event.dataTransfer?.types?.includes('Files')) event.preventDefault();
  });
  el.addEventListener('drop', (event) => {
    const files = [...(event.dataTransfer?.files || [])];
    if (!files.length || !footer.contains(composer)) return;
    event.preventDefault();
    addFiles(files);
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

  // newestInView is true when the newest message shows at least in part.
  function newestInView() {
    const last = list.lastElementChild;
    return nearBottom() || (last && last.getBoundingClientRect().top < log.getBoundingClientRect().bottom);
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

  function nameOf(userId) {
    if (userId === me.id) return t('chat.you');
    const user = members.get(userId);
    return user ? authorName(user) : '?';
  }

  // authorName is how a person is named here: "You", their display name, and
  // their @username too when someone else here has the same display name.
  function authorName(user) {
    if (user?.id === me.id) return t('chat.you');
    const name = user?.display_name || user?.username || '?';
    return sameName.has(user?.id) ? `${name} @${user.username}` : name;
  }

  // nameKey is a display name as a reader sees it: case, accents, spaces,
  // invisible characters and lookalike forms (full-width letters) do not
  // tell two names apart.
  function nameKey(user) {
    return (user.display_name || user.username || '').normalize('NFKD').toLocaleLowerCase()
      .replace(/[\p{M}\p{Default_Ignorable_Code_Point}\s]/gu, '');
  }

  // learn notes people seen here and reports whether that changed who
  // shares a display name with someone else (then names are drawn again).
  function learn(users) {
    let fresh = false;
    for (const u of users) {
      const known = u?.id && people.get(u.id);
      if (!u?.id || (known && known.display_name === u.display_name && known.username === u.username)) continue;
      people.set(u.id, u);
      fresh = true;
    }
    if (!fresh) return false;
    const byKey = new Map();
    for (const u of people.values()) byKey.set(nameKey(u), [...(byKey.get(nameKey(u)) || []), u.id]);
    const next = new Set([...byKey.values()].filter((ids) => ids.length > 1).flat());
    const changed = next.size !== sameName.size || [...next].some((id) => !sameName.has(id));
    sameName = next;
    return changed;
  }

  // showProfile tells who wrote a message: display name, @username and role here.
  // showProfile tells who wrote a message; from there, a direct message
  // with them is one tap away.
  async function showProfile(author) {
    const user = people.get(author.id) || author;
    const role = roles.get(user.id);
    const canWrite = room?.kind !== 'dm' && user.id !== me.id;
    const write = await dialog({
      title: user.display_name || user.username,
      testid: 'profile',
      content: [
        h('p', { class: 'profile-username', testid: 'profile-username' }, `@${user.username}`),
        h('p', { class: 'hint' }, role ? t('profile.member', { role: t(`roomRole.${role}`) }) : t('profile.notMember')),
        sameName.has(user.id) && h('p', { class: 'hint' }, t('profile.sameName')),
      ],
      confirm: canWrite ? t('people.message') : null,
    });
    if (write && canWrite) startDM(user.id).catch((err) => toast(errorText(err)));
  }

  function authorNode(message, mine) {
    const author = message.author;
    if (mine || !author?.id) return h('span', { class: mine ? 'msg-author sr-only' : 'msg-author' }, authorName(author));
    const name = author.display_name || author.username;
    return h('button', {
      type: 'button', class: 'msg-author', testid: 'msg-author', 'aria-haspopup': 'dialog',
      'aria-label': t('chat.authorLabel', { name: authorName(author) }), onclick: () => showProfile(author),
    }, name, sameName.has(author.id) && h('span', { class: 'msg-handle', testid: 'msg-handle' }, `@${author.username}`));
  }

  // quoteNode shows the message a reply answers; a tap jumps to it.
  function quoteNode(reply) {
    if (!reply) return null;
    const who = authorName(reply.author);
    const text = reply.deleted ? t('chat.deleted') : firstLine(reply.body);
    // The name is the visible text with a few hidden words around it, so
    // voice control ("tap <what it says>") finds the button too.
    return h('button', {
      type: 'button', class: `msg-quote${reply.deleted ? ' gone' : ''}`, testid: 'msg-quote', 'data-reply-id': reply.id,
      onclick: () => jumpTo(reply.id, reply.seq),
    },
    h('span', { class: 'sr-only' }, `${t('chat.inReplyTo')} `),
    h('span', { class: 'quote-author' }, who),
    h('span', { class: 'sr-only' }, ': '),
    h('span', { class: 'quote-body' }, text),
    h('span', { class: 'sr-only' }, ` ${t('chat.showOriginal')}`));
  }

  function reactionsNode(message) {
    if (message.deleted || !message.reactions?.length) return null;
    return h('div', { class: 'reactions', testid: 'reactions' }, message.reactions.map((r) => {
      const mine = r.user_ids.includes(me.id);
      const names = r.user_ids.map(nameOf).join(', ');
      return h('button', {
        type: 'button', class: `reaction${mine ? ' mine' : ''}`, testid: 'reaction', 'data-emoji': r.emoji,
        'aria-pressed': String(mine), title: names,
        'aria-label': t('chat.reactedBy', { emoji: r.emoji, n: r.user_ids.length, names }),
        onclick: () => react(message, r.emoji, !mine),
      }, h('span', { 'aria-hidden': 'true' }, r.emoji), h('span', { class: 'count', 'aria-hidden': 'true' }, String(r.user_ids.length)));
    }));
  }

  // reactionPicker is the fixed set, any other emoji typed in, and who reacted.
  function reactionPicker(message) {
    const other = h('input', { type: 'text', class: 'emoji-input', testid: 'emoji-input', maxlength: '16',
      'aria-label': t('chat.otherEmoji'), placeholder: t('chat.otherEmoji'), autocomplete: 'off' });
    const pick = (emoji) => react(message, emoji, !(message.reactions || []).some((r) => r.emoji === emoji && r.user_ids.includes(me.id)));
    const form = h('form', { class: 'emoji-other' }, other,
      h('button', { type: 'submit', testid: 'emoji-add' }, t('chat.addReaction')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const emoji = other.value.trim();
      const graphemes = typeof Intl.Segmenter === 'function' ? [...new Intl.Segmenter().segment(emoji)].length : 1;
      if (!emoji || graphemes !== 1) {
        toast(t('chat.notOneEmoji'));
        return;
      }
      pick(emoji);
    });
    return h('div', { class: 'reaction-picker', testid: 'reaction-picker' },
      h('div', { class: 'quick-reactions', role: 'group', 'aria-label': t('chat.react') },
        QUICK_REACTIONS.map((emoji) => h('button', { type: 'button', class: 'quick-reaction', testid: 'quick-reaction',
          'data-emoji': emoji, 'aria-label': t('chat.reactWith', { emoji }), onclick: () => pick(emoji) }, emoji))),
      form,
      (message.reactions || []).length > 0 && h('ul', { class: 'who-reacted', testid: 'who-reacted' },
        message.reactions.map((r) => h('li', null, h('span', { 'aria-hidden': 'true' }, r.emoji), ' ',
          h('span', { class: 'sr-only' }, `${r.emoji}: `), r.user_ids.map(nameOf).join(', ')))));
  }

  function messageTools(message, mine, author) {
    if (message.deleted) return null;
    const canEdit = mine && !room?.archived;
    const canDelete = mine || canModerate();
    const canPost = Boolean(room?.my_role) && !room?.archived;
    if (!canEdit && !canDelete && !canPost) return null;
    const menuId = `msg-actions-${message.id}`;
    const open = openMenu?.id === message.id;
    const time = formatTime(message.created_at);
    const picker = h('div', { class: 'picker-slot' }, open && openMenu.picker && reactionPicker(message));
    const togglePicker = () => {
      openMenu = { id: message.id, picker: !picker.firstChild };
      picker.replaceChildren(openMenu.picker ? reactionPicker(message) : '');
    };
    // choose closes the menu (the focus back on its button) before the
    // action, so that a dialog the action opens gives the focus back to a
    // button that is on screen.
    const choose = (action) => () => {
      setOpen(false);
      action(message);
    };
    const menu = h('div', { class: 'msg-actions', id: menuId, hidden: !open },
      h('div', { class: 'msg-actions-row' },
        canPost && h('button', { type: 'button', testid: 'msg-reply', onclick: choose(startReplying) }, t('chat.reply')),
        canPost && h('button', { type: 'button', testid: 'msg-react', onclick: togglePicker }, t('chat.react')),
        canEdit && h('button', { type: 'button', testid: 'msg-edit', onclick: choose(startEditing) }, t('chat.edit')),
        canDelete && h('button', { type: 'button', class: 'danger', testid: 'msg-delete', onclick: choose(remove) }, t('chat.delete'))),
      picker);
    const toggle = h('button', {
      type: 'button', class: 'msg-more', testid: 'msg-more', 'aria-expanded': String(open), 'aria-controls': menuId,
      'aria-label': mine ? t('chat.actionsMine', { time }) : t('chat.actionsOf', { name: author, time }),
    }, icon('more'));
    function setOpen(opening) {
      const focusWasInMenu = menu.contains(document.activeElement);
      menu.hidden = !opening;
      toggle.setAttribute('aria-expanded', String(opening));
      openMenu = opening ? { id: message.id, picker: Boolean(picker.firstChild) } : null;
      if (opening) menu.querySelector('button')?.focus();
      else if (focusWasInMenu) toggle.focus();
    }
    toggle.addEventListener('click', () => setOpen(menu.hidden));
    const tools = h('div', { class: 'msg-tools' }, toggle, menu);
    tools.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || menu.hidden) return;
      event.preventDefault();
      event.stopPropagation();
      setOpen(false);
      toggle.focus();
    });
    return tools;
  }

  function messageNode(message, status, item) {
    const mine = message.author?.id === me.id;
    const author = authorName(message.author);
    const mentionsMe = (message.mentions || []).includes(me.id);
    return h('li', {
      class: `msg${mine ? ' mine' : ''}${message.deleted ? ' deleted' : ''}${mentionsMe ? ' mentions-me' : ''}`,
      testid: 'message',
      'data-id': message.id,
      'data-seq': message.seq,
      'data-client-id': message.client_id || null,
      'data-status': status,
      'data-author': message.author?.username,
    },
    authorNode(message, mine),
    !message.deleted && quoteNode(message.reply_to),
    !message.deleted && (item ? pendingFilesNode(item) : attachmentsNode(message.attachments)),
    (message.deleted || message.body) && h('p', { class: 'msg-body' }, message.deleted ? t('chat.deleted')
      : formatBody(message.body, { me: me.username, mentionsMe })),
    reactionsNode(message),
    h('p', { class: 'msg-meta' },
      h('time', { datetime: message.created_at }, formatTime(message.created_at)),
      message.edited_at && !message.deleted && h('span', null, t('chat.edited')),
      mine && statusNode(status, item)),
    !item && messageTools(message, mine, authorName(message.author)));
  }

  // pendingFilesNode names the files of a message still being sent.
  function pendingFilesNode(item) {
    if (!item.files?.length) return null;
    return h('ul', { class: 'msg-files pending', 'aria-label': t('files.list') },
      item.files.map((f) => h('li', { class: 'msg-file' }, icon('file'),
        h('span', { class: 'file-text' }, h('span', { class: 'file-name' }, f.file.name), h('span', { class: 'file-size' }, formatSize(f.file.size))))));
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
    const redraw = learn([message.author, message.reply_to?.author]);
    const isNew = placeOne(message);
    if (redraw) redrawNames();
    return isNew;
  }

  // redrawNames draws every message again once who shares a name has changed.
  function redrawNames() {
    for (const entry of entries.values()) placeOne(entry.message);
  }

  function placeOne(message) {
    const node = messageNode(message, 'sent');
    const known = entries.get(message.id);
    if (known) {
      roving.swap(known.el, node);
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
    saveLatest();
    return true;
  }

  // receive handles a live message from the stream or a send's response. It
  // returns true when the message is new here.
  function receive(message) {
    const stick = nearBottom();
    if (loaded && newest && message.seq > newest + 1) catchUp(newest); // a gap: fetch what is missing
    const mine = message.author?.id === me.id;
    const sending = mine && message.client_id && pending.get(message.client_id);
    stopTyping(message.author?.id);
    if (readSeqs?.has(message.author?.id)) {
      // Whoever posts has read up to their post.
      readSeqs.set(message.author.id, Math.max(readSeqs.get(message.author.id), message.seq));
    }
    const isNew = place(message);
    if (sending) {
      roving.handOver(sending.el, entries.get(message.id).el); // the sent message takes the pending one's focus
      dropPending(message.client_id);
    }
    if (isNew) {
      if (entries.size === 1) drawEdge(); // no longer "no messages yet"
      if (stick || mine) scrollToEnd();
      else jump.hidden = false;
    }
    scheduleRead();
    return isNew;
  }

  // announce tells screen readers about a message that just arrived from
  // someone else. Only the last few stay in the announcer.
  function announce(message) {
    const name = message.author?.display_name || message.author?.username || '?';
    announcer.append(h('p', null, t('chat.announce', { name, body: message.body || filesSummary(message.attachments) })));
    while (announcer.childElementCount > ANNOUNCED_KEPT) announcer.firstElementChild.remove();
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
    if (signal.aborted) return; // left meanwhile: mark nothing read
    if (roomResult.status === 'rejected') {
      log.removeAttribute('aria-busy');
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
    log.removeAttribute('aria-busy');
    drawEdge();
    scrollToEnd();
    scheduleRead();
    observer.observe(edge);
    await loadMembers();
    if (members.size) for (const entry of entries.values()) if (entry.message.reactions?.length) place(entry.message);
    const target = query?.get('msg');
    if (target) await jumpTo(target, Number(query.get('seq')) || 0);
  }

  // ---- who has read what, and who is typing ----
  // loadMembers learns the room's members: their names (who reacted,
  // @suggestions), who is online, and, in rooms small enough for "Seen by",
  // how far each has read.
  async function loadMembers() {
    clearTimeout(membersTimer);
    if (!room?.my_role) return;
    try {
      const list = await api('GET', `${path}/members`) || [];
      for (const m of list) {
        members.set(m.user.id, m.user);
        roles.set(m.user.id, m.role);
        setOnline(m.user.id, Boolean(m.online));
      }
      readSeqs = list.length <= SEEN_MAX_MEMBERS ? new Map(list.map((m) => [m.user.id, m.read_seq || 0])) : null;
      if (learn([...members.values()])) redrawNames();
    } catch {
      // names of who reacted fall back to "?"; suggestions and "Seen by" stay empty
    }
    drawSeen();
    drawStatus();
  }

  // drawSeen puts "Seen by N" under my latest message: N members (not me)
  // whose read marker has reached it. Tapping it lists their names.
  function drawSeen() {
    seen.remove();
    if (!readSeqs) return;
    let latest = null;
    for (const entry of entries.values()) {
      if (entry.message.author?.id === me.id && !entry.message.deleted && (!latest || entry.message.seq > latest.seq)) latest = entry.message;
    }
    if (!latest) return;
    const seers = [...readSeqs].filter(([userId, seq]) => userId !== me.id && seq >= latest.seq).map(([userId]) => userId);
    if (!seers.length) return;
    const names = seers.map(nameOf).sort((a, b) => a.localeCompare(b));
    const toggle = h('button', {
      type: 'button', class: 'link seen-toggle', testid: 'seen-by', 'aria-expanded': String(seenOpen), 'aria-controls': 'seen-names',
      onclick: () => { seenOpen = !seenOpen; drawSeen(); },
    }, t('chat.seenBy', { n: seers.length }));
    seen.replaceChildren(toggle, ...(seenOpen ? [h('p', { class: 'seen-names', id: 'seen-names', testid: 'seen-names' }, names.join(', '))] : []));
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

  // loadOlder loads the page before the oldest message shown (once at a
  // time: a second call gets the page already on its way).
  function loadOlder(limit = PAGE_SIZE) {
    if (!older && hasMore && loaded) {
      older = fetchOlder(limit).then((ok) => {
        older = null;
        if (ok && hasMore && log.scrollTop < 300) loadOlder();
      });
    }
    return older || Promise.resolve();
  }

  async function fetchOlder(limit) {
    loadingOlder = true;
    log.setAttribute('aria-busy', 'true');
    drawEdge();
    const fromBottom = log.scrollHeight - log.scrollTop;
    let ok = false;
    try {
      const page = await api('GET', `${path}/messages?before_seq=${oldest}&limit=${limit}`);
      for (const message of [...(page.messages || [])].reverse()) place(message);
      hasMore = Boolean(page.has_more);
      ok = true;
    } catch (err) {
      toast(errorText(err));
    } finally {
      loadingOlder = false;
      if (loaded) log.removeAttribute('aria-busy');
      drawEdge();
      log.scrollTop = log.scrollHeight - fromBottom; // keep what was on screen in place
    }
    return ok;
  }

  // jumpTo scrolls to a message, loading older history until it is there.
  async function jumpTo(messageId, seq) {
    while (!entries.has(messageId) && hasMore && (!seq || oldest > seq)) {
      const before = oldest;
      await loadOlder(200);
      if (oldest === before && !older) break; // the page failed
    }
    const entry = entries.get(messageId);
    if (!entry) {
      toast(t('chat.notFound'));
      return;
    }
    entry.el.scrollIntoView({ block: 'center' });
    entry.el.classList.add('flash');
    entry.el.setAttribute('tabindex', '-1');
    entry.el.focus({ preventScroll: true });
    setTimeout(() => entry.el.classList.remove('flash'), 2500);
    scheduleRead();
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
    if (!loaded || !room?.my_role || document.visibilityState !== 'visible' || !newestInView() || newest <= readSeq) return;
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
    if (!body && (editing || !picked.length)) return;
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
    const item = { client_id: uid(), body, reply_to: replyingTo, files: picked.splice(0), status: 'pending', error: null, el: null };
    drawTray();
    stopReplying();
    pending.set(item.client_id, item);
    drawPending(item);
    scrollToEnd();
    deliver(item);
  }

  function drawPending(item) {
    const pseudo = { body: item.body, author: me, client_id: item.client_id, created_at: new Date().toISOString(), reply_to: item.reply_to };
    const node = messageNode(pseudo, item.status, item);
    if (item.el) roving.swap(item.el, node);
    else pendingList.append(node);
    item.el = node;
  }

  async function deliver(item) {
    item.status = 'pending';
    drawPending(item);
    try {
      const request = { body: item.body, client_id: item.client_id };
      if (item.reply_to) request.reply_to = item.reply_to.id;
      if (item.files.length) request.attachments = await uploaded(item.files);
      const message = await api('POST', `${path}/messages`, request);
      receive(message);
    } catch (err) {
      if (!pending.has(item.client_id)) return;
      item.status = 'failed';
      item.error = err;
      drawPending(item);
    }
  }

  // ---- files ----
  function addFiles(files) {
    const room = MAX_FILES - picked.length;
    if (files.length > room) toast(t('files.tooMany', { n: MAX_FILES }));
    for (const file of files.slice(0, Math.max(0, room))) {
      const f = { key: uid(), file, status: 'uploading', progress: 0, el: null };
      picked.push(f);
      startUpload(f);
      previewOf(file).then((url) => {
        f.preview = url;
        if (url && f.el?.isConnected) drawChip(f);
      });
    }
    drawTray();
  }

  function startUpload(f) {
    const controller = new AbortController();
    Object.assign(f, { status: 'uploading', progress: 0, error: null, abort: () => controller.abort() });
    f.promise = upload(id, f.file, {
      signal: controller.signal,
      onProgress: (fraction) => {
        f.progress = fraction;
        f.el?.querySelector('progress')?.setAttribute('value', String(fraction));
      },
    }).then((result) => {
      Object.assign(f, { status: 'done', result });
      drawChip(f);
      return result;
    }, (err) => {
      Object.assign(f, { status: 'failed', error: err });
      drawChip(f);
      throw err;
    });
    f.promise.catch(() => {}); // a failure shows on its chip; sending tries it again
    drawChip(f);
  }

  // previewOf draws a small picture of an image file for its chip (a data:
  // URL, as the page's CSP allows for images), or gives null.
  async function previewOf(file) {
    if (!file.type?.startsWith('image/') || typeof createImageBitmap !== 'function') return null;
    try {
      // Only the height is given: the width keeps the picture's proportions.
      const bitmap = await createImageBitmap(file, { resizeHeight: 80, resizeQuality: 'medium' });
      const canvas = h('canvas', { width: String(bitmap.width), height: String(bitmap.height) });
      canvas.getContext('2d').drawImage(bitmap, 0, 0);
      bitmap.close();
      return canvas.toDataURL('image/jpeg', 0.7);
    } catch {
      return null; // not an image the browser can read: the icon stands for it
    }
  }

  // uploaded waits for a message's files, uploading again any that failed,
  // and returns their ids.
  async function uploaded(files) {
    const ids = [];
    for (const f of files) {
      if (f.status === 'failed') startUpload(f);
      ids.push((await f.promise).id);
    }
    return ids;
  }

  function drawTray() {
    tray.hidden = picked.length === 0;
    tray.replaceChildren(...picked.map((f) => {
      if (!f.el) drawChip(f);
      return f.el;
    }));
  }

  // drawChip shows one picked file: its name and size, the upload's progress
  // or failure, and a button to take it out.
  function drawChip(f) {
    const { name } = f.file;
    let state;
    if (f.status === 'uploading') {
      state = h('progress', { max: '1', value: String(f.progress), 'aria-label': t('files.uploading', { name }) });
    } else if (f.status === 'failed') {
      state = h('span', { class: 'chip-error', role: 'alert' }, `${t('files.failed')}: ${errorText(f.error)}`);
    } else {
      state = h('span', { class: 'sr-only' }, t('files.ready'));
    }
    const chip = h('li', { class: `file-chip ${f.status}`, testid: 'file-chip', 'data-status': f.status, 'data-name': name },
      f.preview ? h('img', { class: 'chip-preview', src: f.preview, alt: '', width: '40', height: '40' })
        : icon(f.file.type?.startsWith('image/') ? 'camera' : 'file'),
      h('span', { class: 'file-text' }, h('span', { class: 'file-name' }, name), h('span', { class: 'file-size' }, formatSize(f.file.size))),
      state,
      f.status === 'failed' && f.error?.retryable && h('button', { type: 'button', class: 'link', testid: 'file-retry', onclick: () => startUpload(f) }, t('chat.retry')),
      h('button', { type: 'button', class: 'chip-remove', testid: 'file-remove', 'aria-label': t('files.remove', { name }),
        onclick: () => removeFile(f) }, '×'));
    if (f.el?.isConnected) f.el.replaceWith(chip);
    f.el = chip;
  }

  function removeFile(f) {
    const at = picked.indexOf(f);
    if (at < 0) return;
    if (f.status === 'uploading') f.abort();
    picked.splice(at, 1);
    drawTray();
    // The focus goes to the next file's remove button, or back to the attach button.
    const next = (picked[at] || picked[at - 1])?.el?.querySelector('.chip-remove');
    (next || attachButton).focus();
  }

  function dropPending(clientId) {
    pending.get(clientId)?.el.remove();
    pending.delete(clientId);
  }

  function startReplying(message) {
    if (editing) stopEditing();
    replyingTo = { id: message.id, seq: message.seq, author: message.author, body: message.body };
    replyText.replaceChildren(h('strong', null, t('chat.replyingTo', { name: authorName(message.author) })), ' ', firstLine(message.body, 60));
    replyNote.hidden = false;
    input.focus();
  }

  function stopReplying() {
    replyingTo = null;
    replyNote.hidden = true;
  }

  // react adds or takes back my emoji; the change shows at once and the
  // server's event (or its refusal) settles it.
  async function react(message, emoji, add) {
    applyReaction(message.id, emoji, me.id, add);
    try {
      await api(add ? 'PUT' : 'DELETE', `${path}/messages/${encodeURIComponent(message.id)}/reactions/${encodeURIComponent(emoji)}`);
    } catch (err) {
      applyReaction(message.id, emoji, me.id, !add);
      toast(errorText(err));
    }
  }

  function applyReaction(messageId, emoji, userId, add) {
    const entry = entries.get(messageId);
    if (!entry) return;
    const reactions = (entry.message.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
    let r = reactions.find((x) => x.emoji === emoji);
    if (add) {
      if (!r) reactions.push(r = { emoji, user_ids: [] });
      if (!r.user_ids.includes(userId)) r.user_ids.push(userId);
    } else if (r) {
      r.user_ids = r.user_ids.filter((u) => u !== userId);
    }
    place({ ...entry.message, reactions: reactions.filter((x) => x.user_ids.length) });
  }

  // ---- @mention suggestions ----
  let suggestions = [];
  let active = 0;

  function mentionAtCaret() {
    const before = input.value.slice(0, input.selectionStart);
    const m = /(^|[^\w.@-])@([\w.-]{0,32})$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, text: m[2].toLowerCase() } : null;
  }

  function updateSuggestions() {
    const at = mentionAtCaret();
    suggestions = !at ? [] : [...members.values()]
      .filter((u) => u.id !== me.id && (u.username.toLowerCase().startsWith(at.text)
        || (u.display_name || '').toLowerCase().includes(at.text)))
      .slice(0, MAX_SUGGESTIONS);
    active = 0;
    drawSuggestions();
  }

  function drawSuggestions() {
    suggest.hidden = suggestions.length === 0;
    suggest.replaceChildren(...suggestions.map((u, i) => h('li', {
      id: `mention-opt-${i}`, role: 'option', class: 'suggestion', testid: 'mention-option', 'data-username': u.username,
      'aria-selected': String(i === active),
      onmousedown: (event) => event.preventDefault(), // keep the focus in the composer
      onclick: () => chooseSuggestion(u),
    }, h('span', { class: 'suggestion-name' }, u.display_name || u.username), h('span', { class: 'suggestion-user' }, `@${u.username}`))));
    if (suggest.hidden) input.removeAttribute('aria-activedescendant');
    else input.setAttribute('aria-activedescendant', `mention-opt-${active}`);
  }

  function hideSuggestions() {
    suggestions = [];
    drawSuggestions();
  }

  function chooseSuggestion(user) {
    const at = mentionAtCaret();
    if (!at) return;
    const caret = input.selectionStart;
    const text = `@${user.username} `;
    input.value = input.value.slice(0, at.start) + text + input.value.slice(caret);
    input.selectionStart = input.selectionEnd = at.start + text.length;
    hideSuggestions();
    input.focus();
  }

  // suggestKey handles the keys of an open suggestion list; true when used.
  function suggestKey(event) {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      active = (active + (event.key === 'ArrowDown' ? 1 : suggestions.length - 1)) % suggestions.length;
      drawSuggestions();
    } else if ((event.key === 'Enter' || event.key === 'Tab') && !event.isComposing) {
      chooseSuggestion(suggestions[active]);
    } else if (event.key === 'Escape') {
      hideSuggestions();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  function startEditing(message) {
    if (replyingTo) stopReplying();
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
    const ok = await dialog({ title: t('chat.deleteConfirm'), message: (message.body || filesSummary(message.attachments)).slice(0, 140),
      confirm: t('chat.delete'), danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `${path}/messages/${encodeURIComponent(message.id)}`);
      place({ ...message, body: '', deleted: true });
    } catch (err) {
      toast(errorText(err));
    }
  }

  // saveLatest keeps the latest page as the app shows it now (live messages
  // included), for opening this room with no network.
  function saveLatest() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      if (!loaded || isOffline() || !room?.my_role) return;
      const latest = [...entries.values()].map((e) => e.message).sort((a, b) => a.seq - b.seq).slice(-PAGE_SIZE);
      saveOffline(`${path}/messages?limit=${PAGE_SIZE}`, { messages: latest, has_more: hasMore || entries.size > PAGE_SIZE });
    }, 500);
  }

  // ---- footer: composer, join button or read-only note ----
  function drawFooter() {
    if (!room) {
      footer.replaceChildren();
    } else if (isOffline()) {
      footer.replaceChildren(h('p', { class: 'footer-note', testid: 'offline-note' }, t('chat.offline')));
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
  const offOffline = onOfflineChange(drawFooter);

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
          if (receive(data.message) && data.message.author?.id !== me.id) announce(data.message);
          break;
        case 'message.updated':
        case 'message.deleted':
          // an edit of a message not loaded here matters only if it is newer
          if (entries.has(data.message.id)) place(data.message);
          else if (data.message.seq > newest) receive(data.message);
          break;
        case 'reaction.added':
        case 'reaction.removed':
          applyReaction(data.message_id, data.emoji, data.user_id, name === 'reaction.added');
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
          if (readSeqs?.has(data.user_id)) {
            readSeqs.set(data.user_id, Math.max(readSeqs.get(data.user_id), data.seq));
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
        case 'member.left':
          if (data.user) roles.delete(data.user.id);
          break;
        case 'member.joined':
          if (data.user) {
            members.set(data.user.id, data.user);
            roles.set(data.user.id, data.role || 'member');
            if (learn([data.user])) redrawNames();
          }
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
      roving.disconnect();
      clearTimeout(readTimer);
      clearTimeout(membersTimer);
      clearTimeout(typingTimer);
      clearTimeout(saveTimer);
      offOffline();
      for (const typer of typers.values()) clearTimeout(typer.timer);
      for (const f of picked) if (f.status === 'uploading') f.abort();
      markRead(); // what was on screen when leaving has been read
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
