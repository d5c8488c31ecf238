// The workspace's Settings tab: every client-owned field, saved with one PUT that carries
// If-Match (a stale edit is refused, never overwrites), and deleting the workspace.
// Exports what the Variables tab shares: workspaceBody, saveWorkspace, rowsEditor.
import {api} from '../api.js';
import {confirmDialog, field, notify, setFieldError, statusBadge} from '../components.js';
import {fmtTime, h, mount} from '../dom.js';
import {navigate} from '../router.js';
import {clearFormErrors, formStatus, showFormError} from '../forms.js';
import {PROVISIONERS} from '../pages/workspaces.js';

// The form, section by section. Types: text (default), textarea, select, checkbox, number,
// int, tags (key:value lines), lines (one string per line), rows (an editor of objects).
// `always`: sent even when empty (the server requires it).
const SECTIONS = [
  {legend: 'General', fields: [
    {name: 'name', label: 'Name', max: 128},
    {name: 'description', label: 'Description', type: 'textarea'},
    {name: 'tags', label: 'Tags', type: 'tags', hint: 'One per line: key:value, or a key alone.'},
  ]},
  {legend: 'Provisioner', fields: [
    {name: 'provisioner', label: 'Provisioner', type: 'select', options: PROVISIONERS},
    {name: 'provisioner_version', label: 'Provisioner version', max: 64, hint: 'Empty means latest.'},
    {name: 'terragrunt_version', label: 'Terragrunt version', max: 64,
     hint: 'When the provisioner is terragrunt.'},
    {name: 'terragrunt_provider', label: 'Provision with terragrunt', type: 'checkbox'},
    {name: 'run_all', label: 'Run all terragrunt modules (run-all)', type: 'checkbox'},
    {name: 'provisioner_configuration', label: 'Provisioner configuration', type: 'textarea'},
    {name: 'provisioner_data', label: 'Provisioner data', type: 'textarea'},
  ]},
  {legend: 'Repository', fields: [
    {name: 'repository', label: 'Repository', max: 1024},
    {name: 'repository_connector', label: 'Repository connector', max: 1024},
    {name: 'repository_branch', label: 'Branch', max: 1024},
    {name: 'repository_commit', label: 'Commit or tag', max: 1024},
    {name: 'repository_sha', label: 'Commit SHA', max: 1024},
    {name: 'repository_path', label: 'Path in the repository', max: 1024},
    {name: 'repository_submodules', label: 'Submodules', type: 'select',
     options: ['false', 'true', 'recursive']},
    {name: 'sparse_checkout', label: 'Sparse checkout patterns', type: 'textarea'},
  ]},
  {legend: 'Connectors', fields: [
    {name: 'provider_connector', label: 'Provider connector', max: 128, always: true},
    {name: 'provider_connectors', label: 'Provider connectors', type: 'rows', addLabel: 'Add a connector',
     columns: [{key: 'connector_ref', label: 'Connector'},
               {key: 'type', label: 'Type', type: 'select', options: ['aws', 'azure', 'gcp', 'vault']},
               {key: 'terragrunt_provider', label: 'Terragrunt provider', type: 'checkbox'}]},
  ]},
  {legend: 'Variable sets, pipelines and variable files', fields: [
    {name: 'variable_sets', label: 'Variable sets', type: 'lines',
     hint: 'One per line: account.<id>, org.<id> or <id> (this project). The first listed wins.'},
    {name: 'default_pipelines', label: 'Default pipelines', type: 'rows', keyedBy: 'action',
     addLabel: 'Add a pipeline',
     columns: [{key: 'action', label: 'Action', placeholder: 'plan'},
               {key: 'project_pipeline', label: 'Project pipeline'},
               {key: 'workspace_pipeline', label: 'Workspace pipeline'}]},
    {name: 'terraform_variable_files', label: 'Terraform variable files', type: 'rows',
     addLabel: 'Add a variable file',
     columns: [{key: 'repository', label: 'Repository'},
               {key: 'repository_connector', label: 'Connector'},
               {key: 'repository_branch', label: 'Branch'},
               {key: 'repository_commit', label: 'Commit or tag'},
               {key: 'repository_sha', label: 'SHA'},
               {key: 'repository_path', label: 'Path'}]},
  ]},
  {legend: 'Cost', fields: [
    {name: 'cost_estimation_enabled', label: 'Estimate costs', type: 'checkbox'},
    {name: 'ccm_cost_enabled', label: 'Cloud cost management (CCM) integration', type: 'checkbox'},
    {name: 'budget', label: 'Monthly budget (USD)', type: 'number', hint: 'Empty means no budget.'},
  ]},
  {legend: 'State', fields: [
    {name: 'prune_sensitive_data', label: 'Prune sensitive data', type: 'checkbox'},
    {name: 'state_retention.keep_versions', label: 'State versions to keep', type: 'int',
     hint: 'Empty: the server default; 0: no limit.'},
    {name: 'state_retention.max_age_days', label: 'Maximum age of state versions (days)', type: 'int',
     hint: 'Empty: the server default; 0: no limit.'},
  ]},
];

const VARIABLE_MAPS = {environment_variables: 'env', terraform_variables: 'tf'};
const CLIENT_KEYS = [...new Set(SECTIONS.flatMap((s) => s.fields.map((f) => f.name.split('.')[0])))];

// A variable map as it is sent back: key, value, value_type (and kind, when not the default).
export function cleanVariables(map, defaultKind) {
  const out = {};
  for (const [k, v] of Object.entries(map || {})) {
    out[k] = {key: k, value: v.value, value_type: v.value_type};
    if (v.kind && v.kind !== defaultKind) out[k].kind = v.kind;
  }
  return out;
}

// The workspace's client-owned fields as a PUT body (a PUT replaces all of them).
export function workspaceBody(ws) {
  const body = {};
  for (const k of CLIENT_KEYS) if (ws[k] !== undefined && ws[k] !== null) body[k] = ws[k];
  for (const [map, kind] of Object.entries(VARIABLE_MAPS)) body[map] = cleanVariables(ws[map], kind);
  body.provider_connector ??= '';
  return body;
}

// The message of a refused stale save, with a way to load the other changes.
export function staleNotice(tabCtx, what = 'saved') {
  return h('div', {class: 'state-error stale-notice'},
    h('p', null, h('strong', null, `Not ${what}. `),
      'This workspace was changed by someone else since you opened it — reload to see their ' +
      'changes.'),
    h('button', {type: 'button', onclick: () => tabCtx.reload()}, 'Reload (discards the edits here)'));
}

// PUTs a whole workspace with If-Match. Saved: a notice and the page reloads with the new
// ETag. 412: the stale notice (nothing overwritten). 400: next to the field it names.
export async function saveWorkspace(tabCtx, body, {form, status, button}) {
  button.disabled = true;
  try {
    const {data} = await api.put(tabCtx.wsPath, body,
                                 {headers: tabCtx.etag ? {'If-Match': tabCtx.etag} : {}});
    const policy = data && data.policy_evaluation && data.policy_evaluation.status;
    if (policy && policy !== 'pass') notify(`Saved; the policies answered "${policy}".`, 'warn');
    else notify('Saved.');
    await tabCtx.reload();
  } catch (err) {
    button.disabled = false;
    if (err && err.status === 412) {
      mount(status, staleNotice(tabCtx));
      status.scrollIntoView({block: 'nearest'});
    } else {
      showFormError(form, status, err);
    }
  }
}

// An editable table of objects with add/remove: columns [{key, label, type: 'text' | 'select'
// | 'checkbox', options, placeholder}] or a custom {key, label, cell(row, tr) -> {el, get}}.
// rowField(value, index) names each row (data-field) so that server errors about it show on
// it (default `${name}[index]`).
export function rowsEditor({name, label, hint, columns, rows = [], rowField, addLabel = 'Add',
                            emptyText = 'None.'}) {
  const entries = [];
  const tbody = h('tbody');
  const wrapTable = h('div', {class: 'table-wrap'},
    h('table', {class: 'rows-table'},
      h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col'}, c.label)),
                         h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Remove')))),
      tbody));
  const none = h('p', {class: 'muted rows-none'}, emptyText);
  const add = h('button', {type: 'button'}, addLabel);
  const labelId = `${name}-rows-label`;
  const sync = () => {
    wrapTable.hidden = entries.length === 0;
    none.hidden = entries.length > 0;
    entries.forEach((en, i) => en.tr.querySelectorAll('[data-col]').forEach((el) =>
      el.setAttribute('aria-label', `${el.dataset.col}, row ${i + 1}`)));
  };
  const addRow = (row, focus) => {
    const tr = h('tr', {class: 'edit-row', dataset: {field: `${name}[${entries.length}]`}});
    const entry = {tr, getters: {}};
    columns.forEach((c, i) => {
      const {el, get} = c.cell ? c.cell(row, tr) : inputCell(c, row[c.key]);
      entry.getters[c.key] = get;
      tr.appendChild(h('td', null, el, i === 0 ? h('p', {class: 'field-error', role: 'alert'}) : null));
    });
    const remove = h('button', {type: 'button', class: 'inline-button', 'data-col': 'Remove'}, 'Remove');
    remove.addEventListener('click', () => {
      entries.splice(entries.indexOf(entry), 1);
      tr.remove();
      sync();
      add.focus();
    });
    tr.appendChild(h('td', {class: 'rows-remove'}, remove));
    entries.push(entry);
    tbody.appendChild(tr);
    sync();
    if (focus) tr.querySelector('input, select')?.focus();
  };
  rows.forEach((r) => addRow(r, false));
  add.addEventListener('click', () => addRow({}, true));
  sync();
  return {
    el: h('div', {class: 'field rows-field', role: 'group', 'aria-labelledby': labelId,
                  dataset: {field: name}},
          h('span', {class: 'rows-label', id: labelId}, label),
          hint ? h('p', {class: 'field-hint'}, hint) : null,
          h('p', {class: 'field-error', role: 'alert'}),
          wrapTable, none, h('div', null, add)),
    values() {
      return entries.map((en, i) => {
        const v = {};
        for (const [k, get] of Object.entries(en.getters)) v[k] = get();
        en.tr.dataset.field = rowField ? rowField(v, i) : `${name}[${i}]`;
        return v;
      });
    },
    rowError(i, message) {
      entries[i].tr.classList.add('has-error');
      entries[i].tr.querySelector('.field-error').textContent = message;
    },
  };
}

function inputCell(c, value) {
  let el;
  if (c.type === 'select') {
    el = h('select', {name: c.key, 'data-col': c.label},
           c.options.map((o) => h('option', {value: o, selected: o === value}, o)));
  } else if (c.type === 'checkbox') {
    el = h('input', {type: 'checkbox', name: c.key, checked: Boolean(value), 'data-col': c.label});
  } else {
    el = h('input', {type: 'text', name: c.key, value: value ?? '', placeholder: c.placeholder,
                     autocomplete: 'off', spellcheck: 'false', 'data-col': c.label});
  }
  return {el, get: () => (c.type === 'checkbox' ? el.checked : el.value.trim())};
}

const getPath = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
const idOf = (name) => `ws-set-${name.replace(/[^\w-]/g, '-')}`;

// One form control: {el, read()}; read() returns undefined to leave the field out and throws
// a message for a value that cannot be sent.
function control(def, ws) {
  const value = getPath(ws, def.name);
  const id = idOf(def.name);
  const type = def.type || 'text';
  if (type === 'rows') {
    const rows = def.keyedBy
        ? Object.entries(value || {}).map(([k, v]) => ({[def.keyedBy]: k, ...v}))
        : (value || []);
    const editor = rowsEditor({name: def.name, label: def.label, hint: def.hint, columns: def.columns,
                               rows, addLabel: def.addLabel,
                               rowField: def.keyedBy ? (v) => `${def.name}.${v[def.keyedBy]}` : null});
    return {el: editor.el, read: () => readRows(def, editor)};
  }
  let input;
  if (type === 'select') {
    input = h('select', {id, name: def.name},
              def.options.map((o) => h('option', {value: o, selected: o === value}, o)));
  } else if (type === 'checkbox') {
    input = h('input', {id, name: def.name, type: 'checkbox', checked: Boolean(value)});
  } else if (['textarea', 'tags', 'lines'].includes(type)) {
    let text = value ?? '';
    if (type === 'tags') text = Object.entries(value || {}).map(([k, v]) => (v ? `${k}:${v}` : k)).join('\n');
    if (type === 'lines') text = (value || []).join('\n');
    input = h('textarea', {id, name: def.name, rows: 3, class: 'short', value: text,
                           spellcheck: type === 'textarea' ? null : 'false'});
  } else {
    const numeric = type === 'number' || type === 'int';
    input = h('input', {id, name: def.name, type: numeric ? 'number' : 'text', value: value ?? '',
                        maxlength: def.max, min: numeric ? '0' : null,
                        step: type === 'int' ? '1' : numeric ? 'any' : null, autocomplete: 'off'});
  }
  const wrap = field(def.label, input, {hint: def.hint});
  if (type === 'checkbox') wrap.classList.add('check-field');
  return {el: wrap, read: () => readInput(def, type, input)};
}

function readInput(def, type, input) {
  if (type === 'checkbox') return input.checked;
  if (type === 'select') return input.value;
  const raw = input.value;
  if (type === 'number' || type === 'int') {
    if (input.validity.badInput) throw new Error('Enter a number.');
    if (raw.trim() === '') return undefined;
    const n = Number(raw);
    if (n < 0 || (type === 'int' && !Number.isInteger(n))) {
      throw new Error(type === 'int' ? 'Enter a whole number, 0 or more.' : 'Enter a number, 0 or more.');
    }
    return n;
  }
  if (type === 'tags') {
    const tags = Object.create(null);
    for (const line of raw.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const colon = line.indexOf(':');
      const key = (colon < 0 ? line : line.slice(0, colon)).trim();
      if (!key) throw new Error(`"${line}" has no key.`);
      tags[key] = colon < 0 ? '' : line.slice(colon + 1).trim();
    }
    return tags;
  }
  if (type === 'lines') return raw.split('\n').map((l) => l.trim()).filter(Boolean);
  if (type === 'textarea') return raw.trim() === '' ? undefined : raw;
  const text = raw.trim();
  if (def.name === 'name' && !text) throw new Error('Enter a name.');
  return text === '' && !def.always ? undefined : text;
}

// Rows without their empty optional cells (the first column is kept: the server requires it).
function readRows(def, editor) {
  const first = def.columns[0].key;
  const rows = editor.values().map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k, v]) => k === first || v !== '')));
  if (!def.keyedBy) return rows;
  const out = Object.create(null);
  rows.forEach((r, i) => {
    const {[def.keyedBy]: key, ...rest} = r;
    if (!key) editor.rowError(i, `Enter the ${def.columns[0].label.toLowerCase()}.`);
    else if (Object.hasOwn(out, key)) editor.rowError(i, `"${key}" is listed twice.`);
    else out[key] = rest;
  });
  return out;
}

function setPath(obj, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  let o = obj;
  for (const k of keys) o = o[k] ??= {};
  o[last] = value;
}

export async function render(container, tabCtx) {
  const ws = tabCtx.workspace;
  const controls = [];
  const sections = SECTIONS.map((s) => h('fieldset', {class: 'settings-section'},
    h('legend', null, s.legend),
    h('div', {class: 'form-grid'}, s.fields.filter((f) => layoutOf(f) === 'grid').map(add)),
    h('div', {class: 'checks'}, s.fields.filter((f) => layoutOf(f) === 'check').map(add)),
    s.fields.filter((f) => layoutOf(f) === 'wide').map(add)));
  function add(def) {
    const c = control(def, ws);
    controls.push({def, ...c});
    return c.el;
  }

  const status = formStatus();
  const save = h('button', {type: 'submit', class: 'primary'}, 'Save settings');
  const form = h('form', {class: 'settings-form', novalidate: true, 'aria-label': 'Workspace settings'},
    sections, status, h('div', {class: 'form-actions sticky-actions'}, save,
      h('span', {class: 'muted'}, 'Saving replaces every setting of the workspace.')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, status);
    const body = {};
    for (const [map, kind] of Object.entries(VARIABLE_MAPS)) body[map] = cleanVariables(ws[map], kind);
    for (const {def, read} of controls) {
      try {
        const v = read();
        if (v !== undefined) setPath(body, def.name, v);
      } catch (err) {
        setFieldError(form, def.name, err.message);
      }
    }
    const invalid = form.querySelector('.has-error');
    if (invalid) {
      invalid.querySelector('input, select, textarea')?.focus();
      return;
    }
    await saveWorkspace(tabCtx, body, {form, status, button: save});
  });

  mount(container, summary(ws), form, dangerZone(tabCtx));
}

// Short fields share a grid, checkboxes a row, the others take the width.
const layoutOf = (f) => (f.type === 'checkbox' ? 'check'
    : ['rows', 'textarea', 'tags', 'lines'].includes(f.type) ? 'wide' : 'grid');

// What the user cannot edit here.
function summary(ws) {
  const template = ws.associated_template;
  return h('dl', {class: 'props settings-summary'},
    h('dt', null, 'Identifier'), h('dd', null, h('code', null, ws.identifier)),
    h('dt', null, 'Status'), h('dd', null, statusBadge(ws.status)),
    template ? [h('dt', null, 'Template'),
                h('dd', null, template.template_id, template.version ? ` (version ${template.version})` : '')]
             : null,
    h('dt', null, 'Created'), h('dd', null, fmtTime(ws.created)),
    h('dt', null, 'Updated'), h('dd', null, fmtTime(ws.updated)));
}

function dangerZone(tabCtx) {
  const ws = tabCtx.workspace;
  const status = formStatus();
  const button = h('button', {type: 'button', class: 'danger'}, 'Delete workspace');
  button.addEventListener('click', async () => {
    mount(status);
    const ok = await confirmDialog({
      title: `Delete workspace ${ws.name || ws.identifier}?`,
      message: 'The workspace, its state versions, runs and settings are deleted. This cannot be undone.',
      confirmLabel: 'Delete workspace', danger: true, typed: ws.identifier,
    });
    if (!ok) { button.focus(); return; }
    button.disabled = true;
    try {
      await api.del(tabCtx.wsPath, {headers: tabCtx.etag ? {'If-Match': tabCtx.etag} : {}});
      notify(`Deleted workspace ${ws.name || ws.identifier}.`);
      navigate(tabCtx.base.replace(/\/workspaces\/[^/]+$/, ''));
    } catch (err) {
      button.disabled = false;
      mount(status, err && err.status === 412 ? staleNotice(tabCtx, 'deleted')
                                              : h('p', {class: 'field-error'}, err.message));
    }
  });
  return h('section', {class: 'danger-zone', 'aria-labelledby': 'danger-title'},
    h('h2', {id: 'danger-title'}, 'Delete this workspace'),
    h('p', null, 'Deleting removes the workspace and everything stored with it.'),
    status, button);
}
