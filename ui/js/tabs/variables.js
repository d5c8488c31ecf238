// The workspace's Variables tab: its Terraform and environment variables (add, edit, remove;
// a secret's value is a secret reference and is never shown), the variable sets it uses, and
// the effective values a run gets. Saving is the same PUT with If-Match as Settings.
import {emptyState, table} from '../components.js';
import {h, mount} from '../dom.js';
import {clearFormErrors, formStatus} from '../forms.js';
import {rowsEditor, saveWorkspace, workspaceBody} from './settings.js';

const KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const MAPS = [
  {name: 'terraform_variables', label: 'Terraform variables', noun: 'Terraform variable',
   add: 'Add a Terraform variable', kind: 'tf'},
  {name: 'environment_variables', label: 'Environment variables', noun: 'environment variable',
   add: 'Add an environment variable', kind: 'env'},
];
const REF_FORMS = 'account.<id>, org.<id> or <id>';
const SECRET_HINT = `A secret reference: ${REF_FORMS}.`;
const masked = () => h('span', {class: 'masked'}, '(secret)');

// The value cell. A saved secret shows "(secret)" and its reference never enters the page;
// "Change" asks for a new one, and so does turning the secret into a string.
function valueCell(row, tr) {
  let kept = row.value_type === 'secret' ? row.value : null;
  const input = h('input', {type: 'text', name: 'value', autocomplete: 'off', spellcheck: 'false',
                            'data-col': 'Value', 'aria-label': 'Value'});
  const wrap = h('div', {class: 'value-cell'});
  const edit = (focus) => {
    kept = null;
    input.value = '';
    mount(wrap, input);
    if (focus) input.focus();
  };
  const hint = (type) => {
    input.placeholder = type === 'secret' ? 'account.db_password' : '';
    input.title = type === 'secret' ? SECRET_HINT : '';
  };
  if (kept !== null) {
    mount(wrap, masked(), ' ',
          h('button', {type: 'button', class: 'inline-button', onclick: () => edit(true),
                       'aria-label': `Change the secret reference of ${row.key}`}, 'Change'));
  } else {
    input.value = row.value ?? '';
    mount(wrap, input);
  }
  hint(row.value_type);
  tr.addEventListener('change', (ev) => {
    if (ev.target.name !== 'value_type') return;
    if (kept !== null && ev.target.value !== 'secret') edit(false);
    hint(ev.target.value);
  });
  return {el: wrap, get: () => (kept !== null ? kept : input.value)};
}

// The editor's rows as a variable map; problems are marked on their rows.
function readMap(m, editor, saved) {
  const out = Object.create(null);
  editor.values().forEach((v, i) => {
    if (!KEY.test(v.key) || v.key.length > 128) {
      editor.rowError(i, 'A key starts with a letter or _, then letters, digits, _ or - (at most 128).');
    } else if (Object.hasOwn(out, v.key)) {
      editor.rowError(i, `${v.key} is listed twice.`);
    } else if (v.value_type === 'secret' && !v.value.trim()) {
      editor.rowError(i, `Enter a secret reference. ${SECRET_HINT}`);
    } else {
      out[v.key] = {key: v.key, value: v.value, value_type: v.value_type};
      const kind = saved[v.key] && saved[v.key].kind;
      if (kind && kind !== m.kind) out[v.key].kind = kind;
    }
  });
  return out;
}

export async function render(container, tabCtx) {
  const ws = tabCtx.workspace;
  const editors = MAPS.map((m) => ({m, editor: rowsEditor({
    name: m.name, label: m.label,
    hint: `A secret's value is a secret reference (${REF_FORMS}); saved ones are never shown.`,
    columns: [
      {key: 'key', label: 'Key'},
      {key: 'value', label: 'Value', cell: valueCell},
      {key: 'value_type', label: 'Type', type: 'select', options: ['string', 'secret']},
    ],
    rows: Object.values(ws[m.name] || {}),
    rowField: (v) => `${m.name}.${v.key}`,
    addLabel: m.add,
    emptyText: `No ${m.noun}s.`,
  })}));
  const status = formStatus();
  const save = h('button', {type: 'submit', class: 'primary'}, 'Save variables');
  const form = h('form', {class: 'variables-form', novalidate: true, 'aria-label': 'Workspace variables'},
    editors.map(({editor}) => editor.el), status, h('div', {class: 'form-actions'}, save));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, status);
    const body = workspaceBody(ws);
    for (const {m, editor} of editors) body[m.name] = readMap(m, editor, ws[m.name] || {});
    const invalid = form.querySelector('.has-error');
    if (invalid) {
      invalid.querySelector('input, select')?.focus();
      return;
    }
    await saveWorkspace(tabCtx, body, {form, status, button: save});
  });
  mount(container, form, setsSection(tabCtx), effectiveSection(ws));
}

function setsSection(tabCtx) {
  const sets = tabCtx.workspace.variable_sets || [];
  const scope = (ref) => (ref.startsWith('account.') ? 'account' : ref.startsWith('org.')
      ? 'organization' : 'project');
  return h('section', {class: 'tab-section', 'aria-labelledby': 'var-sets-title'},
    h('h2', {id: 'var-sets-title'}, 'Variable sets'),
    sets.length
        ? [h('p', {class: 'muted'},
             'The workspace’s own variables win over its sets’; among the sets, the first listed wins.'),
           h('ol', {class: 'set-list'}, sets.map((ref) =>
             h('li', null, h('code', null, ref), ' ', h('span', {class: 'muted'}, `(${scope(ref)})`))))]
        : emptyState('No variable set is attached to this workspace.'),
    h('p', null, h('a', {href: `${tabCtx.base}/settings`}, 'Attach or detach variable sets in Settings')));
}

function effectiveSection(ws) {
  const effective = ws.effective_variables || {};
  const columns = [
    {label: 'Key', cell: (v) => h('code', null, v.key)},
    {label: 'Value', cell: (v) => (v.value_type === 'secret' ? masked()
                                                             : h('span', {class: 'mono value'}, v.value ?? ''))},
    {label: 'Type', cell: (v) => v.value_type || '—'},
    {label: 'Source', cell: (v) => (v.source && v.source.startsWith('variable_set:')
        ? ['variable set ', h('code', null, v.source.slice('variable_set:'.length))]
        : 'this workspace')},
  ];
  return h('section', {class: 'tab-section', 'aria-labelledby': 'var-effective-title'},
    h('h2', {id: 'var-effective-title'}, 'Effective values'),
    h('p', {class: 'muted'}, 'What a run gets, as saved: the workspace’s variables and those its sets add.'),
    MAPS.map((m) => {
      const rows = Object.values(effective[m.name] || {});
      return [h('h3', null, m.label),
              rows.length ? table(columns, rows) : emptyState(`No ${m.noun}s.`)];
    }));
}
