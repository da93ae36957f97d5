// The HTTP client: keeps the login (access + refresh token, tenant, user) in
// localStorage, refreshes it a little before the access token expires and on
// a 401, and turns error bodies into ApiError. It also keeps a copy of what
// the screens last loaded (rooms, recent messages), so that with no network
// the app still shows them, marked offline.

const SESSION_KEY = 'parley.session';
const BASE = '/api/v1';
const SAVED = 'parley-data'; // Cache Storage of the answers kept for offline use

// What is kept: my rooms, a room, its latest page of messages, its members, me.
const KEPT = [/^\/rooms$/, /^\/rooms\/[^/?]+$/, /^\/rooms\/[^/?]+\/messages\?limit=\d+$/, /^\/rooms\/[^/?]+\/members$/, /^\/me$/];

export class ApiError extends Error {
  constructor(status, code, message, retryAfter, field) {
    super(message || code);
    this.status = status; // 0 when the network failed
    this.code = code;
    this.retryAfter = retryAfter;
    this.field = field; // the request field at fault, when the server names one
  }

  // retryable is true for failures that sending the same request again may fix.
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

let session = readSession();
let refreshTimer = 0;
let refreshing = null;
let signOutNote = '';
let offline = false;
const listeners = new Set();
const offlineListeners = new Set();

function readSession() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY)) || null;
  } catch {
    return null;
  }
}

export function getSession() {
  return session;
}

// onSessionChange calls fn(session) after every login, refresh and logout,
// including those made in another tab.
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setSession(next, { store = true } = {}) {
  const before = session;
  session = next;
  if (!next || (before && before.user.id !== next.user.id)) forgetSaved();
  if (store) {
    if (next) localStorage.setItem(SESSION_KEY, JSON.stringify(next));
    else localStorage.removeItem(SESSION_KEY);
  }
  scheduleRefresh();
  for (const fn of listeners) fn(session, before);
}

// Another tab logged in, refreshed or logged out: follow it.
window.addEventListener('storage', (event) => {
  if (event.key === SESSION_KEY) setSession(readSession(), { store: false });
});

// A sleeping phone does not run timers; check the token when the page is back.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session) accessToken().catch(() => {});
});

function fromTokenResponse(body, tenant) {
  const lifetime = body.expires_in * 1000;
  const now = Date.now();
  return {
    tenant,
    user: body.user,
    access: body.access_token,
    refresh: body.refresh_token,
    // refresh a minute early, or at 80% of a short lifetime
    refreshAt: now + lifetime - Math.min(60_000, lifetime * 0.2),
    expiresAt: now + lifetime,
  };
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const delay = Math.max(0, session.refreshAt - Date.now());
  refreshTimer = setTimeout(() => {
    refresh(session?.access).catch((err) => {
      // A network failure keeps the login; try again shortly.
      if (err.status !== 401 && session) refreshTimer = setTimeout(scheduleRefresh, 10_000);
    });
  }, delay);
}

// send makes one request and returns the decoded body (null for 204).
async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'network', err.message);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data?.error || {};
    throw new ApiError(res.status, error.code || `http_${res.status}`, error.message || res.statusText,
      res.headers.get('Retry-After'), error.field);
  }
  return data;
}

// accessToken returns a token that is not about to expire, refreshing first
// when needed.
export async function accessToken() {
  if (!session) throw new ApiError(401, 'unauthenticated', 'not logged in');
  if (Date.now() >= session.refreshAt) return refresh(session.access);
  return session.access;
}

// refresh trades the refresh token for a new pair and returns the new access
// token. Refresh tokens are single use, and using one twice revokes the whole
// login, so one refresh runs at a time, across tabs too (Web Locks where the
// browser has them); a tab that finds the stored token already replaced by
// another tab adopts it instead of refreshing again. stale is the access
// token the caller found wanting.
export function refresh(stale) {
  if (!refreshing) {
    const run = () => refreshOnce(stale);
    const locked = navigator.locks ? navigator.locks.request('parley.refresh', run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function refreshOnce(stale) {
  const stored = readSession() || session;
  if (!stored) throw new ApiError(401, 'unauthenticated', 'not logged in');
  if (stored.access !== stale && Date.now() < stored.refreshAt) {
    if (stored.access !== session?.access) setSession(stored, { store: false });
    return stored.access;
  }
  try {
    const body = await send('POST', '/auth/refresh', { refresh_token: stored.refresh });
    setSession(fromTokenResponse(body, stored.tenant));
    return session.access;
  } catch (err) {
    if (err.status === 401 || err.status === 400 || err.status === 403) {
      // Say why on the login screen (a disabled account, an ended login).
      signOutNote = err.message || '';
      setSession(null);
    }
    throw err;
  }
}

// takeSignOutNote returns, once, the server's reason for the last forced log-out.
export function takeSignOutNote() {
  const note = signOutNote;
  signOutNote = '';
  return note;
}

// api calls an authenticated endpoint (path below /api/v1), refreshing the
// token and trying once more when the server answers 401.
export async function api(method, path, body) {
  const kept = method === 'GET' && KEPT.some((re) => re.test(path));
  try {
    const data = await authorized(method, path, body);
    setOffline(false);
    if (kept) saveOffline(path, data);
    return data;
  } catch (err) {
    if (err.status !== 0) throw err;
    setOffline(true);
    const copy = kept ? await savedCopy(path) : undefined;
    if (copy === undefined) throw err;
    return copy;
  }
}

async function authorized(method, path, body) {
  const token = await accessToken();
  try {
    return await send(method, path, body, token);
  } catch (err) {
    if (err.status !== 401) throw err;
    return send(method, path, body, await refresh(token));
  }
}

// ---- files ----

// upload sends a file to a room (multipart, as the field "file") and returns
// the server's attachment. onProgress(fraction) follows the upload (fetch
// cannot tell upload progress; XMLHttpRequest can). A 401 refreshes the token
// and sends once more. signal aborts it.
export async function upload(roomId, file, { onProgress, signal } = {}) {
  const path = `/rooms/${encodeURIComponent(roomId)}/uploads`;
  const token = await accessToken();
  try {
    return await sendFile(path, file, token, onProgress, signal);
  } catch (err) {
    if (err.status !== 401) throw err;
    return sendFile(path, file, await refresh(token), onProgress, signal);
  }
}

function sendFile(path, file, token, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', BASE + path);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
        return;
      }
      const error = data?.error || {};
      reject(new ApiError(xhr.status, error.code || `http_${xhr.status}`, error.message || xhr.statusText,
        xhr.getResponseHeader('Retry-After'), error.field));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'aborted'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    const body = new FormData();
    body.append('file', file, file.name || 'file');
    xhr.send(body);
  });
}

// fileURL is a file's URL (as the server gives it) with the access token as
// ?token=, for <img> and download links, which cannot send a header. The
// token is short-lived: ask again (freshFileURL) when one fails.
export function fileURL(url) {
  return session ? `${url}?token=${encodeURIComponent(session.access)}` : url;
}

export async function freshFileURL(url) {
  await accessToken();
  return fileURL(url);
}

// ---- offline ----

// isOffline is true while the server cannot be reached (what is shown is a copy).
export function isOffline() {
  return offline;
}

export function onOfflineChange(fn) {
  offlineListeners.add(fn);
  return () => offlineListeners.delete(fn);
}

export function setOffline(value) {
  if (offline === value) return;
  offline = value;
  for (const fn of offlineListeners) fn(offline);
}

// savedURL names my copy of an answer (per user: a shared phone shows nobody
// else's messages).
function savedURL(path) {
  return `${location.origin}/offline/${encodeURIComponent(session.user.id)}${path}`;
}

// saveOffline keeps data as the answer to GET path, for when there is no
// network; the screens call it as live events change what they show.
export async function saveOffline(path, data) {
  if (!session || !globalThis.caches) return;
  try {
    const cache = await caches.open(SAVED);
    await cache.put(savedURL(path), new Response(JSON.stringify(data), { headers: { 'Content-Type': 'application/json' } }));
  } catch {
    // storage full or unavailable: the app works, just not offline
  }
}

async function savedCopy(path) {
  if (!session || !globalThis.caches) return undefined;
  try {
    const hit = await (await caches.open(SAVED)).match(savedURL(path));
    return hit ? await hit.json() : undefined;
  } catch {
    return undefined;
  }
}

function forgetSaved() {
  if (globalThis.caches) caches.delete(SAVED).catch(() => {});
}

export async function login({ tenant, username, password }) {
  const body = await send('POST', '/auth/login', { tenant, username, password });
  setSession(fromTokenResponse(body, tenant));
}

export async function signup({ tenant, username, password, display_name, invite_code }) {
  const request = { tenant, username, password, display_name: display_name || username };
  if (invite_code) request.invite_code = invite_code;
  const body = await send('POST', '/auth/signup', request);
  setSession(fromTokenResponse(body, tenant));
}

export async function createTenant({ slug, name, username, password, display_name }) {
  const body = await send('POST', '/tenants', {
    slug,
    name: name || slug,
    admin: { username, password, display_name: display_name || username },
  });
  setSession(fromTokenResponse(body, body.tenant?.slug || slug));
}

// logout ends this login on the server (best effort) and forgets it here.
export async function logout() {
  if (!session) return;
  try {
    const token = await accessToken();
    await send('POST', '/auth/logout', { refresh_token: session.refresh }, token);
  } catch {
    // the login is forgotten here either way
  }
  setSession(null);
}

// updateUser keeps the stored user in step after a change to it.
export function updateUser(user) {
  if (session && session.user.id === user.id) setSession({ ...session, user });
}

// refreshMe reloads my account (my role may have changed meanwhile).
export async function refreshMe() {
  if (!session) return;
  try {
    updateUser(await api('GET', '/me'));
  } catch {
    // offline, or logged out: nothing to follow
  }
}

export function isTenantAdmin() {
  const role = session?.user?.role;
  return role === 'owner' || role === 'admin';
}

scheduleRefresh();
