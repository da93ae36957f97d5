// Preferences kept on this device (localStorage), with their pickers for the
// Me screen.

import { field } from './dom.js';
import { t } from './i18n.js';

const ENTER_KEY = 'parley.enterKey';

// enterSends is true when Enter sends a message (Shift+Enter: a new line),
// the default everywhere; false when the person chose Enter for a new line
// (Ctrl/Cmd+Enter sends then).
export function enterSends() {
  return localStorage.getItem(ENTER_KEY) !== 'newline';
}

export function enterKeyPicker() {
  return field('prefs', {
    name: 'enter',
    label: t('prefs.enterKey'),
    type: 'select',
    value: enterSends() ? 'send' : 'newline',
    options: [
      { value: 'send', label: t('prefs.enterSends') },
      { value: 'newline', label: t('prefs.enterNewline') },
    ],
    onchange: (event) => localStorage.setItem(ENTER_KEY, event.target.value),
  });
}
