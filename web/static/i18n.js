// Interface language: follows the browser's language until the person picks
// one, which is then remembered. Strings live in locales/<code>.js.

import en from './locales/en.js';
import zh from './locales/zh.js';

const STORAGE_KEY = 'parley.lang';
const dictionaries = { en, zh };

export const languages = [
  { code: 'en', label: 'English', locale: 'en' },
  { code: 'zh', label: '中文', locale: 'zh-CN' },
];

let current = detect();
const listeners = new Set();

function detect() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved in dictionaries) return saved;
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const base = tag.toLowerCase().split('-')[0];
    if (base in dictionaries) return base;
  }
  return 'en';
}

// t looks a key up in the current language (falling back to English, then to
// the key itself) and fills {placeholders} from params. With params.n === 1
// a "<key>.one" string, where the language has one, is used instead.
export function t(key, params) {
  const dict = dictionaries[current];
  const singular = params?.n === 1 ? dict[`${key}.one`] : undefined;
  const text = singular ?? dict[key] ?? en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export function lang() {
  return current;
}

function locale() {
  return languages.find((l) => l.code === current).locale;
}

export function setLang(code) {
  if (!(code in dictionaries) || code === current) return;
  current = code;
  localStorage.setItem(STORAGE_KEY, code);
  applyToDocument();
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function applyToDocument() {
  document.documentElement.lang = locale();
}

// formatTime shows a message's time: the clock time today, the date otherwise.
export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  const options = sameDay
    ? { hour: '2-digit', minute: '2-digit' }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

export function formatDate(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

// formatCount shows an unread count, capped so the badge stays small.
export function formatCount(n) {
  return n > 99 ? '99+' : String(n);
}
