// One tab stop for a long list (the messages of a chat): only one item, with
// the controls in it, is in the tab order; the arrow keys, Home and End move
// between the items. So the composer after the list is the same few Tab
// presses away however long the history is.
//
// The tab stop is the item the person last moved to, while it is shown; a new
// last item (a new message) takes it over unless the focus is in the list.
// Items and controls added later (new messages, a reaction bar…) are put in or
// out of the tab order as they arrive, so other code need not know about it.

const FOCUSABLE = 'a[href], button, input, select, textarea, summary, [tabindex]';
const TEXT_FIELD = 'input, select, textarea, [contenteditable]';

export function rovingList(container, itemSelector, { onTop } = {}) {
  let stop = null;
  let lastSeen = null;
  const items = () => [...container.querySelectorAll(itemSelector)];

  function setTabbable(item, on) {
    item.tabIndex = on ? 0 : -1;
    for (const el of item.querySelectorAll(FOCUSABLE)) el.tabIndex = on ? 0 : -1;
  }

  function moveStop(item) {
    if (item === stop) return;
    if (stop) setTabbable(stop, false);
    stop = item;
    if (item) setTabbable(item, true);
  }

  // focusLike focuses, in item, the control that matches the one that had the
  // focus (same data-testid), or else the item itself.
  function focusLike(was, item) {
    const testid = was.dataset?.testid;
    const same = testid && was !== item && item.querySelector(`[data-testid="${CSS.escape(testid)}"]`);
    (same && !same.closest('[hidden]') ? same : item).focus({ preventScroll: true });
  }

  const observer = new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!(node instanceof Element)) continue;
        const owner = node.closest(itemSelector);
        const added = owner ? [owner] : node.querySelectorAll(itemSelector);
        for (const item of added) setTabbable(item, item === stop);
      }
    }
    const last = items().at(-1) || null;
    if (!stop?.isConnected || (last !== lastSeen && !container.contains(document.activeElement))) {
      stop = null;
      moveStop(last);
    }
    lastSeen = last;
  });
  observer.observe(container, { childList: true, subtree: true });

  container.addEventListener('focusin', (event) => {
    const item = event.target.closest(itemSelector);
    if (item && container.contains(item)) moveStop(item);
  });

  container.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest(TEXT_FIELD)) return;
    const item = event.target.closest(itemSelector);
    const all = items();
    const at = all.indexOf(item);
    if (at < 0) return;
    const to = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: all.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    if (to < 0) onTop?.();
    else if (to < all.length) all[to].focus();
  });

  return {
    // swap puts node in old's place, and with it the tab stop and the focus.
    swap(old, node) {
      const focused = old.contains(document.activeElement) ? document.activeElement : null;
      const wasStop = old === stop;
      old.replaceWith(node);
      setTabbable(node, wasStop);
      if (wasStop) stop = node;
      if (focused) focusLike(focused, node);
    },
    // handOver gives the tab stop and the focus of from, about to go, to to.
    handOver(from, to) {
      if (!from || !to) return;
      if (from === stop) moveStop(to);
      if (from.contains(document.activeElement)) focusLike(document.activeElement, to);
    },
    disconnect() {
      observer.disconnect();
    },
  };
}
