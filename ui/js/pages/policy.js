// One policy (/ui/policies/:policy?org=&project=): a Rego editor with line numbers that saves
// with PATCH (If-Match: the ETag read with it) and shows the server's parse or compile error
// next to the editor, its line marked; the sets linking the policy; and an evaluation of the
// editor's Rego against an input document (POST /pm/api/v1/evaluate, nothing stored).
import {ApiError, api} from '../api.js';
import {badge, confirmDialog, emptyState, errorState, field, jsonBlock,
        loadingState, notify, setFieldError, statusBadge, table, withData} from '../components.js';
import {h, mount, timeAgo} from '../dom.js';
import {clearFormErrors} from '../forms.js';
import {navigate} from '../router.js';
import {levelCrumbs, levelName, levelOf, levelSuffix, pmQuery} from './policies.js';

const PM = '/pm/api/v1';
const e = encodeURIComponent;
const SAMPLE_INPUT = '{\n  "resource_changes": []\n}\n';

export async function render(main, params, query, ctx) {
  const level = levelOf(query);
  const id = params.policy;
  const path = `${PM}/policies/${e(id)}`;
  ctx.setTitle(`Policy ${id}`);
  ctx.setCrumbs([{label: 'Organizations', href: '/ui'}, ...levelCrumbs(level), {label: id}]);

  let {data: policy, etag} = await api.get(path, pmQuery(level));

  const name = h('input', {id: 'policy-name', name: 'name', type: 'text', value: policy.name || '',
                           autocomplete: 'off', required: true});
  const editor = regoEditor(policy.rego || '');
  const saveButton = h('button', {type: 'submit', class: 'primary', id: 'policy-save'}, 'Save');
  const saveState = h('p', {class: 'field-hint', id: 'policy-save-state', role: 'status'});
  const form = h('form', {class: 'policy-form', novalidate: true, id: 'policy-form'},
    field('Name', name),
    editor.field,
    h('div', {class: 'form-actions'}, saveButton,
      h('button', {type: 'button', onclick: () => revert()}, 'Revert'),
      saveState));
  const meta = h('p', {class: 'page-meta'});
  const showMeta = () => mount(meta,
    badge(levelName(level), 'info'), ' package ', h('code', null, policy.policy_package_name || '—'),
    ` · ${policy.polciy_size_in_bytes ?? (policy.rego || '').length} bytes · updated `, timeAgo(policy.updated));
  showMeta();

  async function save() {
    clearFormErrors(form);
    editor.clearError();
    saveState.textContent = '';
    if (!name.value.trim()) { setFieldError(form, 'name', 'A name is required.'); name.focus(); return; }
    saveButton.disabled = true;
    saveState.textContent = 'Saving…';
    try {
      await api.patch(path, {name: name.value.trim(), rego: editor.value()},
                      {query: pmQuery(level), headers: etag ? {'If-Match': etag} : {}});
      ({data: policy, etag} = await api.get(path, pmQuery(level)));
      showMeta();
      editor.markSaved();
      saveState.textContent = 'Saved.';
      notify(`Policy ${id} saved.`);
    } catch (err) {
      saveState.textContent = '';
      if (err instanceof ApiError && err.status === 412) {
        saveState.replaceChildren('Someone changed this policy since you opened it. ',
          h('button', {type: 'button', onclick: () => revert(true)}, 'Load their version (your edits are lost)'));
      } else if (err instanceof ApiError && err.status === 400 && !/^name:/.test(err.message)) {
        editor.showError(err.message);
      } else if (!(err instanceof ApiError && err.status === 400 && setFieldError(form, 'name', err.message))) {
        saveState.textContent = err.message;
      }
    } finally {
      saveButton.disabled = false;
    }
  }

  async function revert(fromServer = false) {
    if (fromServer) {
      try {
        ({data: policy, etag} = await api.get(path, pmQuery(level)));
      } catch (err) {
        notify(err.message, 'bad');
        return;
      }
      showMeta();
    }
    name.value = policy.name || '';
    editor.setValue(policy.rego || '');
    editor.clearError();
    saveState.textContent = '';
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); save(); });
  editor.textarea.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === 's') { event.preventDefault(); save(); }
  });

  async function remove() {
    const ok = await confirmDialog({title: `Delete policy ${id}?`, danger: true, confirmLabel: 'Delete',
      message: 'The policy is deleted; policy sets linking it refuse the delete unless you unlink it.'});
    if (!ok) return;
    try {
      await api.del(path, {query: pmQuery(level)});
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) { notify(err.message, 'bad'); return; }
      const force = await confirmDialog({title: 'The policy is linked', danger: true, confirmLabel: 'Unlink and delete',
        message: `${err.message}. Unlink it from every set and delete it?`});
      if (!force) return;
      try { await api.del(path, {query: {...pmQuery(level), force: 'true'}}); } catch (err2) { notify(err2.message, 'bad'); return; }
    }
    notify(`Policy ${id} deleted.`);
    navigate(`/ui/policies${levelSuffix(level)}`);
  }

  const setsArea = h('div');
  mount(main,
    h('div', {class: 'page-head'}, h('h1', null, policy.name || id), meta,
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', class: 'danger', id: 'policy-delete', onclick: remove}, 'Delete policy')),
    h('div', {class: 'policy-layout'},
      h('section', {'aria-labelledby': 'rego-title'}, h('h2', {id: 'rego-title'}, 'Rego'), form),
      h('section', {'aria-labelledby': 'try-title'}, h('h2', {id: 'try-title'}, 'Evaluate against an input'),
        evaluatePanel(editor, level))),
    h('section', {'aria-labelledby': 'linked-title'}, h('h2', {id: 'linked-title'}, 'Policy sets linking it'), setsArea));

  withData(setsArea, () => api.get(`${path}/policysets`, {...pmQuery(level), limit: 100}),
    ({data}) => data.length
      ? table([
        {label: 'Set', cell: (s) => h('a', {href: `/ui/policysets/${e(s.identifier)}${levelSuffix({org: s.org_id, project: s.project_id})}`}, s.name || s.identifier)},
        {label: 'Level', cell: (s) => levelName({org: s.org_id, project: s.project_id})},
        {label: 'Entity type', cell: (s) => s.type},
        {label: 'Event', cell: (s) => s.action},
        {label: 'Enabled', cell: (s) => s.enabled ? badge('enabled', 'ok') : badge('disabled', 'neutral')},
      ], data)
      : emptyState('No policy set links this policy: it is never enforced.'));
}

// The Rego textarea with a line-number gutter. Tab inserts two spaces (Escape, then Tab, leaves
// the editor); errors naming "policy.rego:<line>" mark that line and can move the cursor there.
export function regoEditor(initial) {
  const textarea = h('textarea', {id: 'rego', name: 'rego', class: 'rego-text', spellcheck: 'false',
                                  autocapitalize: 'off', autocomplete: 'off', wrap: 'off', rows: '22',
                                  value: initial});
  const gutter = h('div', {class: 'rego-gutter', 'aria-hidden': 'true'});
  const errorBox = h('div', {class: 'rego-error', id: 'rego-error', role: 'alert'});
  const dirty = h('span', {class: 'rego-dirty muted', 'aria-live': 'polite'});
  let saved = initial;
  let lines = 0;
  let errorLine = 0;
  let escaped = false;

  function renumber() {
    const count = textarea.value.split('\n').length;
    if (count !== lines) {
      lines = count;
      const items = [];
      for (let i = 1; i <= count; i++) {
        items.push(h('span', {class: i === errorLine ? 'error-line' : null, dataset: {line: i}}, String(i)));
      }
      mount(gutter, items);
    }
    gutter.scrollTop = textarea.scrollTop;
    dirty.textContent = textarea.value !== saved ? 'Unsaved changes' : '';
  }

  function goToLine(n) {
    const all = textarea.value.split('\n');
    let start = 0;
    for (let i = 0; i < n - 1 && i < all.length; i++) start += all[i].length + 1;
    const end = start + (all[n - 1] || '').length;
    textarea.focus();
    textarea.setSelectionRange(start, end);
    const lineHeight = textarea.scrollHeight / Math.max(all.length, 1);
    textarea.scrollTop = Math.max(0, (n - 4) * lineHeight);
    gutter.scrollTop = textarea.scrollTop;
  }

  textarea.addEventListener('input', renumber);
  textarea.addEventListener('scroll', () => { gutter.scrollTop = textarea.scrollTop; });
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { escaped = true; return; }
    if (event.key !== 'Tab' || escaped || event.ctrlKey || event.altKey || event.metaKey) {
      escaped = false;
      return;
    }
    event.preventDefault();
    const {selectionStart: start, selectionEnd: end, value} = textarea;
    const lineStart = value.lastIndexOf('\n', start - 1) + 1;
    if (event.shiftKey) {
      // Outdent the current line by up to two spaces.
      const strip = value.startsWith('  ', lineStart) ? 2 : value.startsWith(' ', lineStart) ? 1 : 0;
      if (!strip) return;
      textarea.setRangeText('', lineStart, lineStart + strip, 'preserve');
      textarea.setSelectionRange(Math.max(lineStart, start - strip), Math.max(lineStart, end - strip));
    } else {
      textarea.setRangeText('  ', start, end, 'end');
    }
    renumber();
  });

  const editorId = 'rego-hint';
  const fieldEl = h('div', {class: 'field rego-field', dataset: {field: 'rego'}},
    h('div', {class: 'rego-label'}, h('label', {for: 'rego'}, 'Rego'), dirty),
    h('div', {class: 'rego-editor'}, gutter, textarea),
    h('p', {class: 'field-hint', id: editorId},
      'Tab inserts two spaces, Shift+Tab removes them; press Escape then Tab to leave the editor. Ctrl+S saves.'),
    errorBox);
  textarea.setAttribute('aria-describedby', `${editorId} rego-error`);
  renumber();

  return {
    field: fieldEl,
    textarea,
    value: () => textarea.value,
    setValue(v) { textarea.value = v; saved = v; lines = 0; renumber(); },
    markSaved() { saved = textarea.value; renumber(); },
    showError(message) {
      const m = /policy\.rego:(\d+)/.exec(message);
      errorLine = m ? Number(m[1]) : 0;
      fieldEl.classList.add('has-error');
      textarea.setAttribute('aria-invalid', 'true');
      mount(errorBox, h('p', {class: 'rego-error-message'}, message),
        errorLine ? h('button', {type: 'button', class: 'rego-goto', onclick: () => goToLine(errorLine)},
                      `Go to line ${errorLine}`) : null);
      errorBox.dataset.line = String(errorLine || '');
      lines = 0;
      renumber();
    },
    clearError() {
      errorLine = 0;
      fieldEl.classList.remove('has-error');
      textarea.removeAttribute('aria-invalid');
      errorBox.replaceChildren();
      delete errorBox.dataset.line;
      lines = 0;
      renumber();
    },
  };
}

// Runs the editor's Rego (saved or not) against an input; Rego errors go to the editor.
function evaluatePanel(editor, level) {
  const input = h('textarea', {id: 'evaluate-input', name: 'input', rows: '10', spellcheck: 'false',
                               value: SAMPLE_INPUT});
  const run = h('button', {type: 'submit', id: 'evaluate-run'}, 'Evaluate');
  const result = h('div', {class: 'evaluate-result', id: 'evaluate-result', 'aria-live': 'polite'});
  const form = h('form', {novalidate: true, id: 'evaluate-form'},
    field('Input (JSON)', input, {hint: 'The document the policy reads as input: a plan (terraform show -json), a state, {"workspace": …}, a cost estimate.'}),
    h('div', {class: 'form-actions'}, run), result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    editor.clearError();
    let doc;
    try {
      doc = JSON.parse(input.value);
    } catch (err) {
      setFieldError(form, 'input', `Not JSON: ${err.message}`);
      input.focus();
      return;
    }
    run.disabled = true;
    mount(result, loadingState('Evaluating…'));
    try {
      const {data} = await api.post(`${PM}/evaluate`, {rego: editor.value(), input: doc}, {query: pmQuery(level)});
      mount(result, evaluationResult(data));
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && /rego|policy\.rego/.test(err.message)) {
        editor.showError(err.message);
        mount(result, h('p', {class: 'field-error'}, 'The Rego does not compile: see the error under the editor.'));
      } else {
        mount(result, errorState(err));
      }
    } finally {
      run.disabled = false;
    }
  });
  return form;
}

function evaluationResult(r) {
  const deny = r.deny_messages || [];
  const warn = r.warn_messages || [];
  return h('div', {class: 'card'},
    h('p', null, 'Result: ', statusBadge(r.status),
      h('span', {class: 'muted'}, ' (as if linked with error severity)')),
    r.error ? h('div', {class: 'state-error'}, r.error) : null,
    h('h3', null, `Deny messages (${deny.length})`),
    deny.length ? h('ul', {class: 'policy-messages'}, deny.map((m) => h('li', {class: 'msg-deny'}, m)))
                : h('p', {class: 'muted'}, 'none'),
    h('h3', null, `Warnings (${warn.length})`),
    warn.length ? h('ul', {class: 'policy-messages'}, warn.map((m) => h('li', {class: 'msg-warn'}, m)))
                : h('p', {class: 'muted'}, 'none'),
    h('details', null, h('summary', null, 'Output (the package document)'), jsonBlock(r.output ?? null)));
}
