// Notifications: the unread count in the tab title and on the app's icon,
// system notifications for new messages while the app is in the background
// or another room is open, and Web Push for when the app is closed.
//
// Permission is asked only when the person taps "Turn on" (never on load),
// and what they chose is remembered per device.

import { api, getSession } from './api.js';
import { preview } from './format.js';
import { setUnreadCount } from './nav.js';

const SETTING_KEY = 'parley.notify'; // "on" once the person turned notifications on here
const PUSH_KEY = 'parley.push'; // {user, id}: this device's push subscription on the server

export function notificationsSupported() {
  return 'Notification' in window;
}

export function notificationsOn() {
  return notificationsSupported() && Notification.permission === 'granted' && localStorage.getItem(SETTING_KEY) === 'on';
}

// turnOn asks for permission (after a tap) and subscribes this device to push.
// It returns the permission ("granted", "denied" or "default").
export async function turnOn() {
  if (!notificationsSupported()) return 'denied';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission;
  localStorage.setItem(SETTING_KEY, 'on');
  // In the background: a browser without a push service still notifies while open.
  subscribePush().catch(() => {});
  return permission;
}

export async function turnOff() {
  localStorage.removeItem(SETTING_KEY);
  await unsubscribePush().catch(() => {});
}

// badgeCount is what the title and the icon show: unread messages in rooms
// that notify me of everything, unread mentions in the others.
export function badgeCount(rooms) {
  let n = 0;
  for (const room of rooms) {
    if (room.notifications === 'none' || room.notifications === 'mentions') n += room.mention_count || 0;
    else n += room.unread || 0;
  }
  return n;
}

// showCount puts the count in the tab title and on the installed app's icon.
export function showCount(n) {
  setUnreadCount(n);
  if (!('setAppBadge' in navigator)) return;
  const done = n > 0 ? navigator.setAppBadge(n) : navigator.clearAppBadge();
  done.catch(() => {}); // not installed, or not allowed: the title still shows it
}

// notifyMessage shows a system notification for a new message when the app
// is in the background or another room is on screen, if the room's level lets
// it through (a mention of me always does).
export async function notifyMessage(room, message, activeRoomId) {
  const me = getSession()?.user;
  if (!notificationsOn() || !room || !me || message.author?.id === me.id) return;
  if (document.visibilityState === 'visible' && activeRoomId === room.id) return;
  const mentioned = (message.mentions || []).includes(me.id);
  const level = room.notifications || 'all';
  if (level !== 'all' && !mentioned) return;
  const author = message.author?.display_name || message.author?.username || '';
  const title = room.kind === 'dm' ? author : `${author} · ${room.name}`;
  const options = {
    body: preview(message.body, 120), tag: room.id, renotify: true,
    icon: '/icons/icon-192.png', badge: '/icons/icon-maskable-192.png', data: { room_id: room.id },
  };
  try {
    const registration = await activeRegistration();
    if (registration) {
      await registration.showNotification(title, options);
      return;
    }
  } catch {
    // fall back to a page notification
  }
  // Only where there is no service worker: phones' browsers refuse this one.
  const shown = new Notification(title, options);
  shown.onclick = () => {
    window.focus();
    location.hash = `#/rooms/${encodeURIComponent(room.id)}`;
    shown.close();
  };
}

// activeRegistration is the service worker once it is active (phones show
// notifications only through it), waiting for it a few seconds if it is
// still installing, as it may be just after the app first opened; null where
// there is none.
function activeRegistration() {
  if (!navigator.serviceWorker) return Promise.resolve(null);
  const gaveUp = new Promise((resolve) => { setTimeout(() => resolve(null), 5000); });
  return Promise.race([navigator.serviceWorker.ready, gaveUp]);
}

// ---- Web Push ----

function urlBase64ToBytes(text) {
  const base64 = (text + '='.repeat((4 - (text.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function toBase64URL(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// subscribePush registers this device's push subscription with my login
// (again after each log-in: logging out removed it on the server).
export async function subscribePush() {
  const registration = await navigator.serviceWorker?.ready;
  if (!registration?.pushManager) return;
  const { public_key: key } = await api('GET', '/push/key');
  const subscription = await registration.pushManager.getSubscription()
    || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(key) });
  const { id } = await api('POST', '/push/subscriptions', {
    endpoint: subscription.endpoint,
    keys: { p256dh: toBase64URL(subscription.getKey('p256dh')), auth: toBase64URL(subscription.getKey('auth')) },
  });
  localStorage.setItem(PUSH_KEY, JSON.stringify({ user: getSession().user.id, id }));
}

async function unsubscribePush() {
  const saved = JSON.parse(localStorage.getItem(PUSH_KEY) || 'null');
  localStorage.removeItem(PUSH_KEY);
  if (saved && saved.user === getSession()?.user?.id) await api('DELETE', `/push/subscriptions/${encodeURIComponent(saved.id)}`).catch(() => {});
  const registration = await navigator.serviceWorker?.getRegistration();
  const subscription = await registration?.pushManager?.getSubscription();
  await subscription?.unsubscribe();
}

// notificationStatus says where notifications stand on this device.
export function notificationStatus() {
  if (!notificationsSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'blocked';
  return notificationsOn() ? 'on' : 'off';
}
