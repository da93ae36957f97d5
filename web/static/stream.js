// The one multiplexed event stream (/api/v1/events). EventSource cannot set
// headers, so the token goes in the query string; and since its own automatic
// reconnect would reuse an expired token, this closes the EventSource itself on
// any error or on token.expired and opens a new one with a fresh token and the
// last event id, so the server replays whatever was missed.

import { accessToken, refresh } from './api.js';

export const EVENT_NAMES = [
  'message.created', 'message.updated', 'message.deleted',
  'room.updated', 'room.deleted', 'room.left',
  'member.joined', 'member.left', 'token.expired',
  'reaction.added', 'reaction.removed',
  'typing', 'presence', 'read', 'user.updated',
];

const MAX_DELAY_MS = 30_000;

export class EventStream {
  // onEvent(name, data) gets each event; onState(state) gets 'connecting',
  // 'live' or 'reconnecting'; onOpen(resumed) runs when a connection opens,
  // resumed being false when the server could not replay (a first connection).
  constructor({ onEvent, onState, onOpen }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onOpen = onOpen;
    this.source = null;
    this.token = null;
    this.lastId = '';
    this.failures = 0;
    this.timer = 0;
    this.running = false;
    this.state = 'idle';
    this.wake = () => {
      if (this.running && this.state === 'reconnecting' && navigator.onLine !== false) this.connect();
    };
    this.offline = () => { if (this.running) this.retryLater(); };
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener('online', this.wake);
    window.addEventListener('offline', this.offline);
    document.addEventListener('visibilitychange', this.wake);
    this.setState('connecting');
    this.connect();
  }

  stop() {
    this.running = false;
    this.close();
    clearTimeout(this.timer);
    this.lastId = '';
    this.failures = 0;
    window.removeEventListener('online', this.wake);
    window.removeEventListener('offline', this.offline);
    document.removeEventListener('visibilitychange', this.wake);
    this.setState('idle');
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.onState(state);
  }

  close() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  async connect({ fresh = false } = {}) {
    this.close();
    clearTimeout(this.timer);
    let token;
    try {
      // After repeated failures the token itself may be what the server
      // refuses (EventSource does not tell us the status), so renew it.
      token = fresh || this.failures === 2 ? await refresh(this.token) : await accessToken();
    } catch (err) {
      if (err.status === 401) return; // the login is over; the app goes to the login screen
      this.failures++;
      this.retryLater();
      return;
    }
    if (!this.running || this.source) return;
    this.token = token;
    const resumed = Boolean(this.lastId);
    let url = `/api/v1/events?token=${encodeURIComponent(token)}`;
    if (resumed) url += `&last_event_id=${encodeURIComponent(this.lastId)}`;
    const source = new EventSource(url);
    this.source = source;
    source.onopen = () => {
      if (this.source !== source) return;
      this.failures = 0;
      this.setState('live');
      this.onOpen(resumed);
    };
    source.onerror = () => {
      if (this.source !== source) return;
      this.failures++;
      this.retryLater();
    };
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (event) => this.dispatch(source, name, event));
    }
  }

  dispatch(source, name, event) {
    if (this.source !== source) return;
    if (event.lastEventId) this.lastId = event.lastEventId;
    if (name === 'token.expired') {
      this.close();
      this.setState('reconnecting');
      this.connect({ fresh: true });
      return;
    }
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    this.onEvent(name, data);
  }

  // retryLater closes the stream and tries again after a growing, jittered
  // delay (1 s, 2 s, 4 s … 30 s); coming back online or to the page retries now.
  retryLater() {
    this.close();
    clearTimeout(this.timer);
    this.setState('reconnecting');
    const base = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(Math.max(this.failures - 1, 0), 5));
    const delay = base / 2 + Math.random() * base / 2;
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
