// The State tab: the versions of the workspace's Terraform state (.../state), one version with
// its sensitive values masked (.../state/versions/<id>), the diff of two versions
// (.../state/diff?from=<id>&to=<id>), download and rollback.
import {api, request} from '../api.js';
import {badge, confirmDialog, emptyState, errorState, field, jsonBlock, notify, pager, statusBadge,
        table, withData} from '../components.js';
import {fmtBytes, fmtTime, h, mount, timeAgo} from '../dom.js';
import {navigate} from '../router.js';

export const SENSITIVE = '(sensitive)';
const e = encodeURIComponent;
const PAGE_SIZE = 30;
const MAX_SHOWN_BYTES = 64 * 1024 * 1024;  // larger versions are only offered as downloads

export async function render(container, ctx) {
  if (!ctx.sub) return renderList(container, ctx);
  if (ctx.sub === 'versions' && ctx.item) return renderVersion(container, ctx, ctx.item);
  if (ctx.sub === 'diff') return renderDiff(container, ctx);
  mount(container, errorState(new Error(`The State tab has no page "${ctx.sub}".`)),
        h('p', null, h('a', {href: `${ctx.base}/state`}, 'All state versions')));
}

// ---- reading versions ----

async function listVersions(ctx, page, limit) {
  const r = await api.get(`${ctx.wsPath}/data`, {data_type: 'state_raw', page, limit});
  return {items: r.data, total: Number(r.headers.get('x-total-items') ?? r.data.length),
          pages: Number(r.headers.get('x-total-pages') || 1)};
}

// The records of the given version ids (the list has no lookup by id, so its pages are read
// newest first until all are found) and the newest 100, for pickers and neighbours.
async function versionIndex(ctx, ids) {
  const byId = new Map();
  let recent = [];
  for (let page = 1; ; page++) {
    const {items, pages} = await listVersions(ctx, page, 100);
    if (page === 1) recent = items;
    items.forEach((v, i) => byId.set(v.id, {...v, newer: items[i - 1], older: items[i + 1]}));
    if (ids.every((id) => byId.has(id)) || page >= pages || !items.length) break;
  }
  return {recent, byId, newest: recent[0]};
}

// Which run wrote which version (a run's summary names the state it stored); best effort.
async function runsByState(ctx) {
  try {
    const {data} = await api.get(`${ctx.wsPath}/runs`, {limit: 100});
    return new Map((Array.isArray(data) ? data : [])
        .filter((r) => r.summary?.state_data_id).map((r) => [r.summary.state_data_id, r]));
  } catch {
    return new Map();
  }
}

// The version's content: {text, state} where state is null unless it is a readable v4 state.
async function loadContent(ctx, id) {
  const {data: text} = await api.get(`${ctx.wsPath}/data/${e(id)}`, null, {raw: true});
  let state = null;
  try {
    const parsed = JSON.parse(text);
    if (parsed && parsed.version === 4 && Array.isArray(parsed.resources ?? [])) state = parsed;
  } catch { /* not JSON: an opaque (encrypted) state */ }
  return {text, state};
}

// ---- Terraform state helpers (also used by the Resources tab) ----

function joinKey(prefix, key) {
  const k = /^[A-Za-z_][\w-]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return !prefix ? k : k.startsWith('[') ? prefix + k : `${prefix}.${k}`;
}

// Leaves of a JSON value by path: {a: {b: [1]}} -> Map {"a.b[0]" => 1}. Empty objects and
// arrays are leaves.
export function flatten(value, prefix = '', out = new Map()) {
  if (Array.isArray(value) && value.length) {
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
  } else if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flatten(v, joinKey(prefix, k), out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

// Terraform's sensitive_attributes ([[{type: "get_attr", value: "input"}, {type: "index",
// value: {value: 0, type: "number"}}], ...]) as path prefixes in flatten()'s notation.
export function sensitivePaths(list) {
  return (Array.isArray(list) ? list : []).map((steps) => {
    if (typeof steps === 'string') return steps;
    let p = '';
    for (const step of Array.isArray(steps) ? steps : []) {
      const v = step && typeof step.value === 'object' && step.value !== null ? step.value.value : step?.value;
      p = typeof v === 'number' ? `${p}[${v}]` : joinKey(p, String(v));
    }
    return p;
  });
}

function isUnder(path, prefixes) {
  return prefixes.some((p) => p === '' || path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
}

// cty type names, which dynamic values carry beside them ({value, type: "string"}): never secrets.
const TYPE_NAMES = new Set(['string', 'number', 'bool', 'dynamic', 'list', 'map', 'set', 'object', 'tuple']);

// The strings Terraform marks sensitive (sensitive outputs' values, marked attributes). They are
// masked wherever they appear, also where the state does not mark them: terraform_data's
// output, for one, repeats its sensitive input unmarked. outputs: [{value, sensitive}];
// instances: [{attributes, sensitive: prefixes}].
export function secretValues(outputs, instances) {
  const secrets = new Set();
  const add = (leaves, keep) => {
    for (const [path, v] of leaves) {
      if (typeof v === 'string' && v && v !== SENSITIVE && !TYPE_NAMES.has(v) && keep(path)) secrets.add(v);
    }
  };
  for (const o of outputs) if (o.sensitive) add(flatten(o.value), () => true);
  for (const x of instances) if (x.sensitive.length) add(flatten(x.attributes), (p) => isUnder(p, x.sensitive));
  return secrets;
}

// A copy of value with every subtree at a sensitive path, and every secret string, replaced by
// "(sensitive)".
export function maskValue(value, prefixes, secrets, path = '') {
  if (prefixes.length && isUnder(path, prefixes)) return SENSITIVE;
  if (Array.isArray(value)) return value.map((v, i) => maskValue(v, prefixes, secrets, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(v, prefixes, secrets, joinKey(path, k))]));
  }
  return typeof value === 'string' && secrets.has(value) ? SENSITIVE : value;
}

// An output's value for display: "(sensitive)" for sensitive outputs, strings as they are.
export function outputText(output, secrets) {
  const v = output.sensitive ? SENSITIVE : maskValue(output.value, [], secrets);
  if (v === SENSITIVE) return h('span', {class: 'masked'}, SENSITIVE);
  return typeof v === 'string' ? v : h('code', null, JSON.stringify(v));
}

// Every resource instance of a v4 state by address (module.x.aws_s3_bucket.b["k"]).
function instancesOf(state) {
  const out = new Map();
  for (const r of state.resources || []) {
    const base = `${r.module ? `${r.module}.` : ''}${r.mode === 'data' ? 'data.' : ''}${r.type}.${r.name}`;
    for (const inst of r.instances || []) {
      const key = inst.index_key === undefined ? '' : `[${JSON.stringify(inst.index_key)}]`;
      const address = base + key + (inst.deposed ? ` (deposed ${inst.deposed})` : '');
      out.set(address, {address, type: r.type, provider: r.provider || '',
                        attributes: inst.attributes ?? inst.attributes_flat ?? {},
                        sensitive: sensitivePaths(inst.sensitive_attributes)});
    }
  }
  return out;
}

function stateSecrets(state, instances = instancesOf(state)) {
  return secretValues(Object.values(state.outputs || {}), instances.values());
}

function leafChanges(before, after, isSensitive) {
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const changes = [];
  for (const path of paths) {
    const had = before.has(path), has = after.has(path);
    if (had && has && JSON.stringify(before.get(path)) === JSON.stringify(after.get(path))) continue;
    const old = before.get(path), now = after.get(path);
    changes.push({path, had, has, before: old, after: now, sensitive: isSensitive(path, old, now)});
  }
  return changes;
}

// Resources added, removed and changed (attribute by attribute) and outputs from a to b.
export function diffStates(a, b) {
  const before = instancesOf(a), after = instancesOf(b);
  const secrets = new Set([...stateSecrets(a, before), ...stateSecrets(b, after)]);
  const secret = (...values) => values.some((v) => typeof v === 'string' && secrets.has(v));
  const byAddress = (x, y) => x.address.localeCompare(y.address);
  const added = [...after.values()].filter((x) => !before.has(x.address)).sort(byAddress);
  const removed = [...before.values()].filter((x) => !after.has(x.address)).sort(byAddress);
  const changed = [];
  let unchanged = 0;
  for (const y of after.values()) {
    const x = before.get(y.address);
    if (!x) continue;
    const changes = leafChanges(flatten(x.attributes), flatten(y.attributes),
                                (p, old, now) => isUnder(p, x.sensitive) || isUnder(p, y.sensitive) ||
                                                 secret(old, now));
    if (changes.length) changed.push({address: y.address, type: y.type, changes});
    else unchanged++;
  }
  changed.sort(byAddress);
  const outA = a.outputs || {}, outB = b.outputs || {};
  const outputs = [];
  for (const name of [...new Set([...Object.keys(outA), ...Object.keys(outB)])].sort()) {
    const x = outA[name], y = outB[name];
    const sensitive = Boolean(x?.sensitive || y?.sensitive);
    const changes = leafChanges(x ? flatten(x.value, name) : new Map(), y ? flatten(y.value, name) : new Map(),
                                (p, old, now) => sensitive || secret(old, now));
    if (changes.length) outputs.push({name, kind: !x ? 'added' : !y ? 'removed' : 'changed', changes});
  }
  return {added, removed, changed, unchanged, outputs};
}

// ---- shared pieces ----

function serialLabel(v) {
  return v.serial !== undefined && v.serial !== null ? `serial ${v.serial}` : `version ${v.id.slice(0, 8)}`;
}

function versionHref(ctx, id) {
  return `${ctx.base}/state/versions/${e(id)}`;
}

function diffHref(ctx, from, to) {
  return `${ctx.base}/state/diff?${new URLSearchParams({from, to})}`;
}

// Who or what wrote a version: a run, a rollback, a pipeline or a token.
function writtenBy(ctx, v, runs, byId) {
  const run = runs.get(v.id);
  if (run) return h('a', {href: `${ctx.base}/runs/${e(run.id)}`}, `run #${run.number ?? run.id}`);
  if (v.rollback_source_id) {
    const src = byId?.get(v.rollback_source_id);
    return h('span', null, 'rollback to ', h('a', {href: versionHref(ctx, v.rollback_source_id)},
                                               src ? serialLabel(src) : v.rollback_source_id.slice(0, 8)),
             v.created_by ? ` by ${v.created_by}` : null);
  }
  if (v.pipeline_execution_id) return `pipeline ${v.pipeline_execution_id}`;
  return v.created_by || h('span', {class: 'muted'}, '—');
}

function checksum(v) {
  return v.state_checksum
      ? h('code', {class: 'checksum', title: `SHA-256 ${v.state_checksum}`}, v.state_checksum.slice(0, 12))
      : '—';
}

function policyBadge(v) {
  return v.policy_evaluation_status
      ? h('span', {title: v.policy_evaluation_message || ''}, statusBadge(v.policy_evaluation_status))
      : null;
}

// Fetches the version with the token (never in a URL) and saves it through a Blob URL.
async function download(ctx, v) {
  try {
    const response = await request('GET', `${ctx.wsPath}/data/${e(v.id)}`, {stream: true});
    const url = URL.createObjectURL(await response.blob());
    const name = `${ctx.ws}-${v.serial !== undefined && v.serial !== null ? `serial-${v.serial}` : v.id}.tfstate`;
    const a = h('a', {href: url, download: name, hidden: true});
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    notify(`Download failed: ${err.message}`, 'bad');
  }
}

async function rollback(ctx, v, newest) {
  const ok = await confirmDialog({
    title: `Roll back to ${serialLabel(v)}?`,
    message: `The content of ${serialLabel(v)} is written as a new version` +
             (newest?.serial !== undefined ? ` (serial ${newest.serial + 1})` : '') +
             ' and becomes the current state; the workspace status becomes rollback_applied. ' +
             'No version is deleted.',
    confirmLabel: 'Roll back', danger: true, typed: ctx.ws});
  if (!ok) return;
  try {
    const {data} = await api.post(`${ctx.wsPath}/state-versions/${e(v.id)}/rollback`);
    const list = `${ctx.base}/state`;
    navigate(list, {replace: location.pathname === list});  // first: the new page's notice area
    notify(`Rolled back: serial ${data.new_file_version} now holds ${serialLabel(v)}.`);
  } catch (err) {
    notify(`Rollback failed${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}`, 'bad');
  }
}

function versionActions(ctx, v, newest) {
  const current = newest && v.id === newest.id;
  return h('div', {class: 'version-actions'},
    h('a', {href: versionHref(ctx, v.id), 'aria-label': `View ${serialLabel(v)}`}, 'View'),
    h('button', {type: 'button', class: 'link-button', 'data-action': 'download',
                 'aria-label': `Download ${serialLabel(v)}`, onclick: () => download(ctx, v)}, 'Download'),
    current ? null : h('button', {type: 'button', class: 'link-button', 'data-action': 'rollback',
                                  'aria-label': `Roll back to ${serialLabel(v)}`,
                                  onclick: () => rollback(ctx, v, newest)}, 'Roll back'));
}

function noStateYet(ctx) {
  return emptyState(['This workspace has no state yet. Point Terraform\'s http backend at ',
                     h('code', null, `${location.origin}${ctx.wsPath}/terraform-backend`),
                     ' or start an apply run.']);
}

// ---- .../state: the list ----

async function renderList(container, ctx) {
  const page = Math.max(1, Number(ctx.query.get('page')) || 1);
  await withData(container,
    () => Promise.all([listVersions(ctx, page, PAGE_SIZE), runsByState(ctx)]),
    ([{items, total, pages}, runs]) => {
      if (!items.length && page === 1) return [h('h2', null, 'State versions'), noStateYet(ctx)];
      const newest = page === 1 ? items[0] : null;
      const byId = new Map(items.map((v) => [v.id, v]));
      const radio = (name, v, checked) => h('input', {
        type: 'radio', name, value: v.id, checked,
        'aria-label': `Compare ${name} ${serialLabel(v)}`, class: `compare-${name}`});
      const rows = table([
        {label: 'From', class: 'pick', cell: (v) => radio('from', v, v === items[1])},
        {label: 'To', class: 'pick', cell: (v) => radio('to', v, v === items[0])},
        {label: 'Serial', class: 'num', cell: (v) => h('a', {href: versionHref(ctx, v.id)},
                                                       v.serial ?? '—')},
        {label: 'Written', cell: (v) => timeAgo(v.created)},
        {label: 'By', cell: (v) => writtenBy(ctx, v, runs, byId)},
        {label: 'Checksum', cell: checksum},
        {label: 'Size', class: 'num', cell: (v) => fmtBytes(v.size)},
        {label: 'Policy', cell: (v) => policyBadge(v) || h('span', {class: 'muted'}, '—')},
        {label: 'Actions', cell: (v) => h('span', null,
          newest && v.id === newest.id ? badge('current', 'ok') : null,
          versionActions(ctx, v, newest))},
      ], items, {caption: `${total} state version${total === 1 ? '' : 's'}, newest first`,
                 rowProps: (v) => ({dataset: {versionId: v.id, serial: v.serial ?? ''}})});
      const form = h('form', {id: 'state-versions', class: 'state-versions'},
        h('div', {class: 'toolbar'},
          h('h2', null, 'State versions'),
          h('span', {class: 'spacer'}),
          items.length > 1 ? h('button', {type: 'submit', id: 'state-compare', class: 'primary'},
                               'Compare selected') : null),
        rows,
        pages > 1 ? pager({page, pageCount: pages, total, first: 1,
                           onPage: (p) => navigate(`${ctx.base}/state?page=${p}`)}) : null);
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const from = form.querySelector('input[name=from]:checked')?.value;
        const to = form.querySelector('input[name=to]:checked')?.value;
        if (from && to) navigate(diffHref(ctx, from, to));
      });
      return form;
    });
}

// ---- .../state/versions/<id>: one version ----

// A resource instance whose attributes are built when first opened (states can be large).
function instanceDetails(x, secrets) {
  const details = h('details', {class: 'instance'},
    h('summary', null, h('code', null, x.address),
      x.sensitive.length ? h('span', {class: 'muted'}, ` · ${x.sensitive.length} sensitive`) : null));
  details.addEventListener('toggle', () => {
    if (details.open && details.children.length === 1) {
      details.appendChild(jsonBlock(maskValue(x.attributes, x.sensitive, secrets)));
    }
  });
  return details;
}

function stateBody(state) {
  const outputs = Object.entries(state.outputs || {}).map(([name, o]) => ({name, ...o}));
  const byAddress = instancesOf(state);
  const instances = [...byAddress.values()];
  const secrets = stateSecrets(state, byAddress);
  return [
    h('h3', null, `Outputs (${outputs.length})`),
    outputs.length
        ? table([{label: 'Name', cell: (o) => h('code', null, o.name)},
                 {label: 'Value', cell: (o) => outputText(o, secrets)}], outputs)
        : h('p', {class: 'muted'}, 'No outputs.'),
    h('h3', null, `Resources (${instances.length})`),
    instances.length ? h('div', {class: 'instances'}, instances.map((x) => instanceDetails(x, secrets)))
                     : h('p', {class: 'muted'}, 'No resources.'),
  ];
}

async function renderVersion(container, ctx, id) {
  await withData(container,
    async () => {
      const [index, runs] = await Promise.all([versionIndex(ctx, [id]), runsByState(ctx)]);
      const v = index.byId.get(id);
      if (!v) throw Object.assign(new Error(`There is no state version ${id} in this workspace.`), {status: 404});
      const content = v.size > MAX_SHOWN_BYTES ? null : await loadContent(ctx, id);
      return {v, index, runs, content};
    },
    ({v, index, runs, content}) => {
      const newest = index.newest;
      const compare = [
        v.older ? h('a', {href: diffHref(ctx, v.older.id, v.id), class: 'button'},
                    `Compare with ${serialLabel(v.older)}`) : null,
        newest && newest.id !== v.id ? h('a', {href: diffHref(ctx, v.id, newest.id), class: 'button'},
                                           'Compare with current') : null,
      ];
      const state = content?.state;
      return [
        h('p', null, h('a', {href: `${ctx.base}/state`}, '‹ All state versions')),
        h('div', {class: 'toolbar'},
          h('h2', {id: 'state-version-title'}, `State ${serialLabel(v)}`),
          newest && newest.id === v.id ? badge('current', 'ok') : null,
          h('span', {class: 'spacer'}),
          compare,
          h('button', {type: 'button', id: 'state-download', onclick: () => download(ctx, v)}, 'Download'),
          newest && newest.id !== v.id
              ? h('button', {type: 'button', id: 'state-rollback', class: 'danger',
                             onclick: () => rollback(ctx, v, newest)}, 'Roll back to this version')
              : null),
        h('dl', {class: 'props card'},
          h('dt', null, 'Serial'), h('dd', null, v.serial ?? '—'),
          h('dt', null, 'Lineage'), h('dd', {class: 'mono'}, v.lineage || '—'),
          h('dt', null, 'Written'), h('dd', null, fmtTime(v.created), ' (', timeAgo(v.created), ')'),
          h('dt', null, 'By'), h('dd', null, writtenBy(ctx, v, runs, index.byId)),
          h('dt', null, 'Checksum'), h('dd', {class: 'mono'}, v.state_checksum || '—'),
          h('dt', null, 'Size'), h('dd', null, fmtBytes(v.size)),
          state?.terraform_version ? [h('dt', null, 'Terraform'), h('dd', null, state.terraform_version)] : null,
          v.policy_evaluation_status ? [h('dt', null, 'Policies'),
            h('dd', null, statusBadge(v.policy_evaluation_status), ' ', v.policy_evaluation_message || '')] : null),
        !content ? emptyState(`This version is ${fmtBytes(v.size)}: too large to show here. Download it instead.`)
            : !state ? emptyState('This version is not a readable Terraform v4 state (an encrypted state?). Download it to read it.')
            : stateBody(state),
      ];
    });
}

// ---- .../state/diff?from=<id>&to=<id> ----

function valueCell(change, side) {
  const present = side === 'before' ? change.had : change.has;
  if (!present) return h('span', {class: 'muted'}, '(absent)');
  if (change.sensitive) return h('span', {class: 'masked'}, SENSITIVE);
  return h('code', null, JSON.stringify(change[side]));
}

function changesTable(changes, caption) {
  return table([
    {label: 'Attribute', cell: (c) => h('code', null, c.path)},
    {label: 'Before', class: 'diff-old', cell: (c) => valueCell(c, 'before')},
    {label: 'After', class: 'diff-new', cell: (c) => valueCell(c, 'after')},
  ], changes, {caption});
}

function addressList(items, kind) {
  return h('ul', {class: `diff-list diff-${kind}`},
           items.map((x) => h('li', null, h('span', {class: 'diff-sign', 'aria-hidden': 'true'},
                                              kind === 'added' ? '+' : '−'),
                              h('code', null, x.address))));
}

function diffBody(diff, from, to) {
  const {added, removed, changed, unchanged, outputs} = diff;
  const section = (id, title, count, body) => h('section', {class: 'diff-section', 'aria-labelledby': id},
    h('h3', {id}, `${title} (${count})`), body);
  const summary = h('p', {class: 'diff-summary', id: 'state-diff-summary', role: 'status'},
    badge(`${added.length} added`, added.length ? 'ok' : 'neutral'), ' ',
    badge(`${removed.length} removed`, removed.length ? 'bad' : 'neutral'), ' ',
    badge(`${changed.length} changed`, changed.length ? 'warn' : 'neutral'), ' ',
    badge(`${unchanged} unchanged`, 'neutral'), ' ',
    badge(`${outputs.length} output${outputs.length === 1 ? '' : 's'} changed`, outputs.length ? 'info' : 'neutral'));
  if (!added.length && !removed.length && !changed.length && !outputs.length) {
    return [summary, emptyState(`No differences between ${serialLabel(from)} and ${serialLabel(to)}.`)];
  }
  return [
    summary,
    added.length ? section('diff-added', 'Added resources', added.length, addressList(added, 'added')) : null,
    removed.length ? section('diff-removed', 'Removed resources', removed.length, addressList(removed, 'removed')) : null,
    changed.length ? section('diff-changed', 'Changed resources', changed.length,
      changed.map((c) => h('div', {class: 'diff-resource', dataset: {address: c.address}},
        changesTable(c.changes, h('code', null, c.address))))) : null,
    outputs.length ? section('diff-outputs', 'Outputs', outputs.length,
      outputs.map((o) => h('div', {class: 'diff-resource', dataset: {output: o.name}},
        changesTable(o.changes, h('span', null, h('code', null, o.name), ` ${o.kind}`))))) : null,
  ];
}

function versionPicker(id, label, versions, selected) {
  const select = h('select', {id, name: id.replace('state-diff-', '')},
    versions.map((v) => h('option', {value: v.id, selected: v.id === selected},
                          `${serialLabel(v)} · ${fmtTime(v.created)}`)));
  return field(label, select);
}

async function renderDiff(container, ctx) {
  let from = ctx.query.get('from'), to = ctx.query.get('to');
  await withData(container,
    async () => {
      const index = await versionIndex(ctx, [from, to].filter(Boolean));
      if (!from || !to) return {index};
      for (const id of [from, to]) {
        if (!index.byId.has(id)) {
          throw Object.assign(new Error(`There is no state version ${id} in this workspace.`), {status: 404});
        }
      }
      const [a, b] = await Promise.all([from, to].map((id) => {
        const v = index.byId.get(id);
        return v.size > MAX_SHOWN_BYTES ? {state: null, tooLarge: true} : loadContent(ctx, id);
      }));
      return {index, a, b};
    },
    ({index, a, b}) => {
      const {recent, byId} = index;
      if (recent.length < 2) {
        return [h('h2', null, 'Compare state versions'),
                recent.length ? emptyState('A diff needs two state versions; this workspace has one.') : noStateYet(ctx)];
      }
      if (!a || !b) {
        // Without both ids, compare the two newest; the URL says so, to be shared.
        navigate(diffHref(ctx, from || recent[1].id, to || recent[0].id), {replace: true});
        return [];
      }
      // The pickers list the newest 100 and the chosen ones.
      const choices = [...recent];
      for (const id of [from, to]) if (!choices.some((v) => v.id === id)) choices.push(byId.get(id));
      const form = h('form', {class: 'diff-pick', id: 'state-diff-form'},
        versionPicker('state-diff-from', 'From version', choices, from),
        versionPicker('state-diff-to', 'To version', choices, to),
        h('div', {class: 'form-actions'},
          h('button', {type: 'submit', class: 'primary'}, 'Compare'),
          h('button', {type: 'button', id: 'state-diff-swap', onclick: () => navigate(diffHref(ctx, to, from))},
            'Swap')));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        navigate(diffHref(ctx, form.elements.from.value, form.elements.to.value));
      });
      const vf = byId.get(from), vt = byId.get(to);
      const unreadable = [a, b].some((c) => !c.state);
      return [
        h('p', null, h('a', {href: `${ctx.base}/state`}, '‹ All state versions')),
        h('h2', {id: 'state-diff-title'}, 'Compare ',
          h('a', {href: versionHref(ctx, from)}, serialLabel(vf)), ' → ',
          h('a', {href: versionHref(ctx, to)}, serialLabel(vt))),
        form,
        from === to ? emptyState('Both sides are the same version: pick two different ones.')
            : unreadable ? emptyState('One of these versions is not a readable Terraform v4 state ' +
                                      '(encrypted, or too large to show here): it cannot be compared here.')
            : h('div', {id: 'state-diff'}, diffBody(diffStates(a.state, b.state), vf, vt)),
      ];
    });
}
