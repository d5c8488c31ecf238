// Shared pieces of every page: loading, empty and error states, tables, pagers, dialogs,
// form fields, badges and notices.
import {h, mount} from './dom.js';

export function loadingState(label = 'Loading…') {
  return h('p', {class: 'state-loading', role: 'status', 'aria-live': 'polite'}, label);
}

export function emptyState(message, ...actions) {
  return h('div', {class: 'state-empty'}, h('p', null, message), actions);
}

// err: an ApiError or any Error; retry: optional function.
export function errorState(err, retry) {
  const status = err && err.status ? ` (HTTP ${err.status})` : '';
  return h('div', {class: 'state-error', role: 'alert'},
           h('p', null, h('strong', null, 'Something went wrong' + status + ': '),
             err && err.message ? err.message : String(err)),
           retry ? h('button', {type: 'button', onclick: retry}, 'Try again') : null);
}

// Renders loading, then what load() resolves to through build(), or an error with retry.
export async function withData(container, load, build) {
  mount(container, loadingState());
  try {
    const data = await load();
    mount(container, build(data));
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    mount(container, errorState(err, () => withData(container, load, build)));
  }
}

// columns: [{label, cell: (row) => Node|string, class?}]
export function table(columns, rows, {caption, rowProps} = {}) {
  return h('div', {class: 'table-wrap'},
           h('table', null,
             caption ? h('caption', null, caption) : null,
             h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col', class: c.class}, c.label)))),
             h('tbody', null, rows.map((row) =>
               h('tr', rowProps ? rowProps(row) : null,
                 columns.map((c) => h('td', {class: c.class}, c.cell(row))))))));
}

// page counts from `first` (0 or 1, as the endpoint does); onPage(newPage).
export function pager({page, pageCount, total, first = 0, onPage}) {
  const last = first + Math.max(pageCount, 1) - 1;
  return h('nav', {class: 'pager', 'aria-label': 'Pagination'},
           h('button', {type: 'button', disabled: page <= first, onclick: () => onPage(page - 1)}, '‹ Previous'),
           h('span', {class: 'pager-info'},
             `Page ${page - first + 1} of ${Math.max(pageCount, 1)}`,
             total !== undefined && total !== null ? ` · ${total} total` : ''),
           h('button', {type: 'button', disabled: page >= last, onclick: () => onPage(page + 1)}, 'Next ›'));
}

// A labelled form field with its validation message slot. input must have an id.
export function field(label, input, {hint, error} = {}) {
  const errorId = `${input.id}-error`;
  input.setAttribute('aria-describedby', errorId);
  return h('div', {class: 'field', dataset: {field: input.name || input.id}},
           h('label', {for: input.id}, label),
           input,
           hint ? h('p', {class: 'field-hint'}, hint) : null,
           h('p', {class: 'field-error', id: errorId, role: 'alert'}, error || ''));
}

export function setFieldError(form, name, message) {
  const wrap = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (!wrap) return false;
  wrap.classList.toggle('has-error', Boolean(message));
  const slot = wrap.querySelector('.field-error');
  if (slot) slot.textContent = message || '';
  return true;
}

export function badge(label, kind = 'neutral', title) {
  return h('span', {class: `badge badge-${kind}`, title}, label);
}

const STATUS_KINDS = {
  active: 'ok', applied: 'ok', planned: 'ok', no_drift: 'ok', pass: 'ok', success: 'ok',
  provisioning: 'info', destroying: 'info', planning: 'info', applying: 'info', queued: 'info',
  approved: 'info', apply_needed: 'warn', awaiting_approval: 'warn', drifted: 'warn',
  warning: 'warn', inactive: 'neutral', discarded: 'neutral', cancelled: 'neutral',
  failed: 'bad', policy_failed: 'bad', error: 'bad', interrupted: 'bad',
};
export function statusBadge(status) {
  return badge(status || 'unknown', STATUS_KINDS[status] || 'neutral');
}

// A notice at the top of the page (role=status), gone after a while.
export function notify(message, kind = 'ok') {
  let area = document.getElementById('notices');
  if (!area) return;
  const note = h('div', {class: `notice notice-${kind}`, role: kind === 'bad' ? 'alert' : 'status'}, message);
  area.appendChild(note);
  setTimeout(() => note.remove(), 6000);
}

// A modal confirmation; resolves true when confirmed. With `typed`, the user must type that
// text first (rollback, force-unlock). With `input: {label}`, resolves the entered string or null.
export function confirmDialog({title, message, confirmLabel = 'Confirm', danger = false, typed, input}) {
  return new Promise((resolve) => {
    const textInput = typed || input
        ? h('input', {id: 'confirm-input', type: 'text', autocomplete: 'off'}) : null;
    const ok = h('button', {type: 'submit', class: danger ? 'danger' : 'primary', disabled: Boolean(typed)}, confirmLabel);
    if (typed) textInput.addEventListener('input', () => { ok.disabled = textInput.value !== typed; });
    const dialog = h('dialog', {class: 'dialog', 'aria-labelledby': 'confirm-title'},
      h('form', {method: 'dialog'},
        h('h2', {id: 'confirm-title'}, title),
        message ? h('p', null, message) : null,
        typed ? field(`Type ${typed} to confirm`, textInput) : null,
        input ? field(input.label, textInput) : null,
        h('div', {class: 'dialog-actions'},
          h('button', {type: 'button', value: 'cancel', onclick: () => dialog.close('cancel')}, 'Cancel'),
          ok)));
    dialog.addEventListener('close', () => {
      const confirmed = dialog.returnValue !== 'cancel' && dialog.returnValue !== '';
      const value = input ? (confirmed ? textInput.value : null) : confirmed;
      dialog.remove();
      resolve(value);
    });
    ok.addEventListener('click', (ev) => { ev.preventDefault(); dialog.close('ok'); });
    document.body.appendChild(dialog);
    dialog.showModal();
    (textInput || ok).focus();
  });
}

// Tabs as links (each tab has its own URL): items [{id, label, href}].
export function tabBar(items, activeId) {
  return h('nav', {class: 'tabs', 'aria-label': 'Sections'},
           h('ul', null, items.map((t) =>
             h('li', null, h('a', {href: t.href, 'aria-current': t.id === activeId ? 'page' : null,
                                   class: t.id === activeId ? 'active' : null}, t.label)))));
}

// <pre> of JSON, as text.
export function jsonBlock(value) {
  return h('pre', {class: 'json'}, JSON.stringify(value, null, 2));
}
