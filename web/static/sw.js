// Parley's service worker: keeps the app shell, so that the app opens with no
// network (showing what it last saw, read-only), and shows push notifications.
//
// The shell is whatever index.html links to (every module is preloaded there)
// plus the icons: read from the page itself, so a new file needs no change here.
// Requests go to the network first and fall back to this copy, so an online
// app is always the current one. The API is never cached here: the app keeps
// its own copy of the rooms and messages it last saw.

const SHELL = 'parley-shell-v1';

async function shellFiles() {
  const res = await fetch('/index.html', { cache: 'no-cache' });
  const page = await res.text();
  const linked = [...page.matchAll(/(?:href|src)="(\/[^"]*)"/g)].map((m) => m[1]);
  const manifest = await fetch('/manifest.webmanifest', { cache: 'no-cache' }).then((r) => r.json()).catch(() => ({}));
  const icons = (manifest.icons || []).map((icon) => icon.src);
  return [...new Set(['/', ...linked, ...icons])];
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    await cache.addAll(await shellFiles());
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('parley-shell-') && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  event.respondWith(networkFirst(request, url));
});

// networkFirst answers from the network, keeping a copy; offline, from the
// copy. Every screen of the app is the one page "/" (routes live in the hash).
async function networkFirst(request, url) {
  const cache = await caches.open(SHELL);
  const key = request.mode === 'navigate' ? '/' : url.pathname;
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (err) {
    const copy = await cache.match(key);
    if (copy) return copy;
    throw err;
  }
}

// ---- notifications ----

// A push carries the least needed: the room, who wrote and a short preview.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = data.kind === 'dm' || !data.room_name ? (data.author || 'Parley') : `${data.author} · ${data.room_name}`;
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || '',
    tag: data.room_id || 'parley',
    renotify: true,
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-maskable-192.png',
    data: { room_id: data.room_id || '' },
  }));
});

// A tap on a notification opens its room, in an open window if there is one.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const roomId = event.notification.data?.room_id;
  const hash = roomId ? `#/rooms/${encodeURIComponent(roomId)}` : '#/rooms';
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of windows) {
      if (new URL(client.url).origin !== self.location.origin) continue;
      await client.focus();
      client.postMessage({ type: 'open', hash });
      return;
    }
    await self.clients.openWindow(`/${hash}`);
  })());
});
