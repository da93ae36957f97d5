// Small helpers for building the page. User data only ever reaches the DOM
// through text nodes and setAttribute, never through innerHTML, so a message
// such as "<img src=x onerror=...>" is always shown as the text it is.

import { t, lang, languages, setLang } from './i18n.js';

// h creates an element. props: "class", "testid" (data-testid), "on<event>"
// listeners, "value"/"checked"/"disabled" properties, anything else an attribute
// (true means present, false or null means absent). Children are nodes or text.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'value' || key === 'checked' || key === 'disabled') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child)); // strings become text nodes
  }
  return el;
}

// uid returns a random id for client_id. crypto.randomUUID only exists on
// secure origins, and a phone on the LAN may well use plain http.
export function uid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// busy disables a button while an async action runs and re-enables it after.
// A disabled button loses the focus (to <body>): it gets it back.
export async function busy(button, action) {
  const focused = document.activeElement === button;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    if (focused && focusIsLost()) button.focus();
  }
}

// focusIsLost is true when nothing has the focus (its element went away or
// was disabled), which leaves a keyboard or screen-reader user nowhere.
export function focusIsLost() {
  return !document.activeElement || document.activeElement === document.body;
}

// errorText turns an ApiError (or anything thrown) into a sentence for people.
export function errorText(err) {
  if (!err) return t('error.generic');
  const known = t(`error.${err.code}`);
  if (known !== `error.${err.code}`) return err.code === 'invalid_request' && err.message ? err.message : known;
  return err.message || t('error.generic');
}

// field builds a labelled input. A field is {name, label, type, hint, options,
// value, ...attributes}; type "select" takes options [{value, label}], type
// "checks" a group of checkboxes sharing the name.
export function field(formId, spec) {
  const { name, label, hint, type = 'text', options = [], ...attrs } = spec;
  const id = `${formId}-${name}`;
  const hintId = hint ? `${id}-hint` : null;
  if (type === 'checks') {
    return h('fieldset', { class: 'field checks', id },
      h('legend', null, label),
      options.map((o) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name, value: o.value, checked: o.checked, 'data-value': o.value }),
        h('span', null, o.label))),
      hint && h('p', { class: 'hint' }, hint));
  }
  let input;
  if (type === 'select') {
    input = h('select', { id, name, ...attrs },
      options.map((o) => h('option', { value: o.value, selected: o.value === attrs.value }, o.label)));
  } else if (type === 'textarea') {
    input = h('textarea', { id, name, ...attrs });
  } else {
    input = h('input', { id, name, type, autocapitalize: 'off', spellcheck: 'false', ...attrs });
  }
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint && h('p', { class: 'hint', id: hintId }, hint),
    h('p', { class: 'field-error', id: `${id}-invalid`, hidden: true }));
}

// problem is what is wrong with a form control's value, in the interface's
// language (the browser's own messages follow the browser's language), or ''.
function problem(control) {
  const v = control.validity;
  if (v.valid) return '';
  if (v.valueMissing) return t('form.required');
  if (v.tooShort) return t('form.tooShort', { n: control.minLength });
  if (v.tooLong) return t('form.tooLong', { n: control.maxLength });
  const hint = control.id && document.getElementById(`${control.id}-hint`);
  if (v.patternMismatch || v.typeMismatch) return hint ? hint.textContent : t('form.format');
  return control.validationMessage;
}

// markInvalid shows message under a form control (or clears it): the control
// gets aria-invalid and is described by the message (after its hint).
function markInvalid(control, message) {
  const note = document.getElementById(`${control.id}-invalid`);
  if (!note) return;
  note.textContent = message;
  note.hidden = !message;
  const ids = (control.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== note.id);
  if (message) {
    control.setAttribute('aria-invalid', 'true');
    ids.push(note.id);
  } else {
    control.removeAttribute('aria-invalid');
  }
  if (ids.length) control.setAttribute('aria-describedby', ids.join(' '));
  else control.removeAttribute('aria-describedby');
}

// form builds a form from field specs. onSubmit(values, formData) may throw.
// A field whose value is wrong (checked here, or named by the server's error)
// is marked invalid with the reason under it and gets the focus; any other
// error is shown in the form's error line, which gets the focus (so it is
// read out, and the person is not left on a disabled button).
export function form({ id, fields, submit, onSubmit, before, after }) {
  const error = h('p', { class: 'form-error', id: `${id}-error`, tabindex: '-1', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary', testid: `${id}-submit` }, submit);
  const el = h('form', { id, class: 'form', novalidate: true, 'aria-describedby': `${id}-error` },
    before, fields.map((f) => field(id, f)), error, button, after);
  const controls = () => [...el.elements].filter((c) => c.id && c.willValidate);
  el.addEventListener('input', (event) => {
    if (event.target.getAttribute?.('aria-invalid') === 'true') markInvalid(event.target, problem(event.target));
  });
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const wrong = controls().filter((c) => {
      markInvalid(c, problem(c));
      return !c.validity.valid;
    });
    if (wrong.length) {
      wrong[0].focus();
      return;
    }
    const data = new FormData(el);
    const values = {};
    for (const [key, value] of data) values[key] = typeof value === 'string' ? value.trim() : value;
    try {
      await busy(button, () => onSubmit(values, data));
    } catch (err) {
      const at = err.field && controls().find((c) => c.name === err.field);
      if (at) {
        markInvalid(at, errorText(err));
        at.focus();
      } else {
        error.textContent = errorText(err);
        error.hidden = false;
        error.focus();
      }
    }
  });
  return el;
}

// dialog opens a modal <dialog> and resolves with the entered values (an
// object, empty when there are no fields) or null when cancelled.
// Without confirm it only shows something: its one button closes it.
export function dialog({ title, message, content, fields = [], confirm, danger = false, testid = 'dialog' }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${uid()}`;
    const body = h('form', { method: 'dialog', class: 'form' },
      h('h2', { id: titleId }, title),
      message && h('p', null, message),
      content,
      fields.map((f) => field('dialog', f)),
      h('div', { class: 'row end' },
        h('button', { type: 'button', value: 'cancel', testid: 'dialog-cancel', onclick: () => finish(null) },
          confirm ? t('common.cancel') : t('common.close')),
        confirm && h('button', { type: 'submit', class: danger ? 'danger' : 'primary', testid: 'dialog-ok' }, confirm)));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId, testid }, body);
    const opener = document.activeElement;
    function finish(result) {
      dlg.close();
      dlg.remove();
      if (opener instanceof HTMLElement) opener.focus();
      resolve(result);
    }
    body.addEventListener('submit', (event) => {
      event.preventDefault();
      const values = {};
      for (const [key, value] of new FormData(body)) values[key] = String(value).trim();
      finish(values);
    });
    dlg.addEventListener('cancel', (event) => { event.preventDefault(); finish(null); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// toast shows a short message in the page's polite live region (which stays
// in the page, empty and invisible, so screen readers hear each change).
let toastTimer = 0;
export function toast(text) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.textContent = ''; }, 4000);
}

// copyText copies to the clipboard where the page may (secure origins) and
// otherwise selects the given input so the person can copy it by hand.
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('common.copied'));
  } catch {
    input?.select();
  }
}

// secretBox shows a value that is displayed only once (an API key, an invite),
// read-only and selectable, with a copy button.
export function secretBox({ label, value, testid, note }) {
  const input = h('input', { type: 'text', readonly: true, value, testid, 'aria-label': label, class: 'mono' });
  return h('div', { class: 'secret' },
    h('p', { class: 'secret-label' }, label),
    h('div', { class: 'row' }, input,
      h('button', { type: 'button', onclick: () => copyText(value, input) }, t('common.copy'))),
    note && h('p', { class: 'hint' }, note));
}

// initials gives the one or two letters shown in a round avatar.
export function initials(name) {
  const letters = Array.from(String(name || '?').trim());
  return (letters[0] || '?').toUpperCase();
}

// actionButton runs an async action on click, with the button disabled
// meanwhile; with confirm it first asks (the question is the dialog's title).
// A failure is shown in the toast. When the action redraws the list the
// button was in (revoke, delete, disable…), the focus goes to the same
// control in the row now at its place (the next one), or to the list.
export function actionButton(label, run, { confirm, danger = false, ...attrs } = {}) {
  const button = h('button', { type: 'button', class: danger ? 'danger' : 'secondary', ...attrs }, label);
  button.addEventListener('click', async () => {
    if (confirm && !(await dialog({ title: confirm, confirm: label, danger }))) return;
    const row = button.closest('li');
    const list = row?.parentElement;
    const index = list ? [...list.children].indexOf(row) : -1;
    try {
      await busy(button, run);
    } catch (err) {
      toast(errorText(err));
    }
    if (list?.isConnected && !button.isConnected && focusIsLost()) focusRow(list, index, button.dataset.testid);
  });
  return button;
}

// focusRow focuses, in the row at index (or the last row), the control with
// this data-testid, or the row's first control, or else the list itself.
function focusRow(list, index, testid) {
  const rows = [...list.children];
  const row = rows[Math.min(index, rows.length - 1)];
  const control = row && ((testid && row.querySelector(`[data-testid="${CSS.escape(testid)}"]`))
    || row.querySelector('a[href], button:not(:disabled), input, select, textarea'));
  if (control) {
    control.focus();
    return;
  }
  if (!list.hasAttribute('tabindex')) list.tabIndex = -1;
  list.focus();
}

// fillList loads items and shows them in a list, or an empty note, or the error.
export async function fillList(list, load, item, emptyText) {
  list.setAttribute('aria-busy', 'true');
  try {
    const items = await load();
    list.replaceChildren(...(items.length ? items.map(item) : [h('li', { class: 'empty' }, emptyText)]));
  } catch (err) {
    list.replaceChildren(h('li', { class: 'error', role: 'alert' }, errorText(err)));
  } finally {
    list.removeAttribute('aria-busy');
  }
}

// keyedChildren makes list's children the elements render(item) gives for
// items, in order, keeping the element already shown for an item whose markup
// is the same (matched by key(item)). So a redraw for an event elsewhere (an
// unread count in another room) neither takes the keyboard focus away nor
// loses a tap that is in progress; an item that changed and had the focus
// passes it to its new element. (render must show what its listeners use.)
export function keyedChildren(list, items, key, render) {
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused && [...list.children].find((el) => el.contains(focused))?.dataset.key;
  const shown = new Map([...list.children].map((el) => [el.dataset.key, el]));
  const wanted = items.map((item) => {
    const el = render(item);
    el.dataset.key = String(key(item));
    const before = shown.get(el.dataset.key);
    return before && before.outerHTML === el.outerHTML ? before : el;
  });
  const keep = new Set(wanted);
  for (const el of [...list.children]) if (!keep.has(el)) el.remove();
  wanted.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
  });
  if (!focused || document.activeElement === focused) return;
  if (focused.isConnected) {
    focused.focus({ preventScroll: true });
    return;
  }
  const now = wanted.find((el) => el.dataset.key === focusKey);
  now?.querySelector('a[href], button, input, select, textarea')?.focus({ preventScroll: true });
}

// listRow is one entry of an admin list: a title, a line of details, small
// badges and a row of controls.
export function listRow({ title, details, badges = [], controls = [], testid, name }) {
  return h('li', { class: 'list-row', testid, 'data-name': name },
    h('div', { class: 'list-row-text' },
      h('span', { class: 'list-row-title' }, title),
      badges.filter(Boolean).map((b) => h('span', { class: 'tag' }, b)),
      details && h('span', { class: 'list-row-details' }, details)),
    controls.length > 0 && h('div', { class: 'list-row-controls' }, controls));
}

// asList accepts a bare array or an object wrapping one under key.
export function asList(body, key) {
  if (Array.isArray(body)) return body;
  return body?.[key] || body?.items || [];
}

// languagePicker switches the interface language.
export function languagePicker() {
  return field('lang', {
    name: 'language',
    label: t('common.language'),
    type: 'select',
    value: lang(),
    options: languages.map((l) => ({ value: l.code, label: l.label })),
    onchange: (event) => setLang(event.target.value),
  });
}

// roleSelect is a labelled role picker that saves on change (and goes back to
// the old role, with the error in the toast, when saving fails).
export function roleSelect({ label, value, roles, names, save, testid }) {
  const select = h('select', { 'aria-label': label, testid, class: 'compact' },
    roles.map((role) => h('option', { value: role, selected: role === value }, t(`${names}.${role}`))));
  let saved = value;
  select.addEventListener('change', async () => {
    select.disabled = true;
    try {
      await save(select.value);
      saved = select.value;
      toast(t('common.saved'));
    } catch (err) {
      select.value = saved;
      toast(errorText(err));
    } finally {
      select.disabled = false;
    }
  });
  return select;
}
