// The rooms I belong to, kept up to date from the event stream, so that the
// room list shows unread counts, last messages and activity live; and who is
// online (presence), for the people I share a room with.

import { api, getSession, isOffline, saveOffline } from './api.js';

const rooms = new Map();
const listeners = new Set();
const online = new Map(); // user id → true/false, as last heard
let loaded = false;
let activeRoom = null; // the room whose chat is on screen: its messages are read
let saveTimer = 0;

function changed() {
  for (const fn of listeners) fn();
  // Keep the list as it is now (last messages, unread counts) for offline use.
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    if (loaded && !isOffline()) saveOffline('/rooms', roomList());
  }, 1000);
}

export function onRoomsChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// roomList returns my rooms, most recently active first.
export function roomList() {
  const activity = (r) => Date.parse(r.last_activity_at || r.created_at) || 0;
  return [...rooms.values()].sort((a, b) => activity(b) - activity(a));
}

export function roomsLoaded() {
  return loaded;
}

export function getRoom(id) {
  return rooms.get(id);
}

export async function loadRooms() {
  const list = await api('GET', '/rooms');
  rooms.clear();
  for (const room of list || []) {
    rooms.set(room.id, room);
    if (room.peer) online.set(room.peer.id, Boolean(room.peer.online));
  }
  loaded = true;
  changed();
}

// dmWith returns my direct message with that user, if I have one.
export function dmWith(userId) {
  for (const room of rooms.values()) if (room.kind === 'dm' && room.peer?.id === userId) return room;
  return null;
}

// isOnline says whether the user has the app open (as far as I have heard).
export function isOnline(userId) {
  return online.get(userId) === true;
}

// setOnline records what a member list says about someone.
export function setOnline(userId, value) {
  if (online.get(userId) === value) return;
  online.set(userId, value);
  changed();
}

export function upsertRoom(room) {
  const known = rooms.get(room.id);
  // room.updated carries the room as seen by whoever changed it: keep my own
  // role, unread count and notification level, and a DM's name and peer
  // (they are the other person, which is per viewer).
  const mine = known ? {
    my_role: known.my_role || room.my_role,
    unread: known.unread,
    mention_count: known.mention_count,
    notifications: room.notifications || known.notifications,
    last_message: room.last_message ?? known.last_message, // a room never loses its last message
    ...(known.kind === 'dm' && !room.peer ? { name: known.name, peer: known.peer } : {}),
  } : {};
  rooms.set(room.id, { ...known, ...room, ...mine });
  if (room.peer) online.set(room.peer.id, Boolean(room.peer.online));
  changed();
}

export function removeRoom(id) {
  if (rooms.delete(id)) changed();
}

export function clearRooms() {
  rooms.clear();
  online.clear();
  loaded = false;
  activeRoom = null;
  changed();
}

export function setActiveRoom(id) {
  activeRoom = id;
}

// activeRoomId is the room whose chat is on screen (null if none).
export function activeRoomId() {
  return activeRoom;
}

export function markRoomRead(id) {
  const room = rooms.get(id);
  if (room && (room.unread || room.mention_count)) {
    room.unread = 0;
    room.mention_count = 0;
    changed();
  }
}

// fetchRoom replaces a room with the server's view of it, my role included.
async function fetchRoom(id) {
  try {
    const room = await api('GET', `/rooms/${encodeURIComponent(id)}`);
    rooms.set(room.id, room);
    changed();
  } catch {
    // it may be gone again already; the next full load settles it
  }
}

// applyEvent updates the rooms from one stream event.
export function applyEvent(name, data) {
  const me = getSession()?.user?.id;
  const room = rooms.get(data.room_id);
  switch (name) {
    case 'message.created': {
      const message = data.message;
      if (!room) return;
      if (message.seq > (room.last_seq || 0)) {
        room.last_seq = message.seq;
        room.last_activity_at = message.created_at;
        room.last_message = message;
        const seen = document.visibilityState === 'visible' && activeRoom === room.id;
        if (message.author?.id !== me && !seen) room.unread = (room.unread || 0) + 1;
        if ((message.mentions || []).includes(me) && !seen) room.mention_count = (room.mention_count || 0) + 1;
        changed();
      }
      return;
    }
    case 'message.updated':
    case 'message.deleted':
      if (room?.last_message?.id === data.message.id) {
        room.last_message = data.message;
        changed();
      }
      return;
    case 'read':
      // I read it on another device.
      if (room && data.user_id === me && data.seq >= room.last_seq - (room.unread || 0)) {
        room.unread = Math.max(0, room.last_seq - data.seq);
        if (!room.unread) room.mention_count = 0;
        changed();
      }
      return;
    case 'presence':
      setOnline(data.user_id, Boolean(data.online));
      return;
    case 'room.updated':
      if (rooms.has(data.room.id)) upsertRoom(data.room);
      return;
    case 'room.deleted':
    case 'room.left':
      removeRoom(data.room_id);
      return;
    case 'member.joined':
      // Also sent when a member's role changes, so count members afresh
      // rather than adding one.
      if (data.user?.id === me || room) fetchRoom(data.room_id);
      return;
    case 'member.left':
      if (data.user?.id === me) removeRoom(data.room_id);
      else if (room) { room.member_count = Math.max(0, (room.member_count || 1) - 1); changed(); }
      return;
    default:
  }
}
