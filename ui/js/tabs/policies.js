// The workspace's Policies tab: the policy evaluations recorded for this workspace (its saves
// and force-unlocks, and its plans, cost estimates and states), newest first, each with its
// policy sets and policies and their deny and warn messages.
//
// Data evaluations carry the data id after the workspace's entity
// ("…/workspaceIdentifier:ws/dataIdentifier:<id>"): `entity_prefix` asks for the workspace's
// entity and everything under it, one page at a time (newest first, `last_seen` as the cursor,
// which the URL keeps as `before`).
import {api} from '../api.js';
import {badge, emptyState, field, statusBadge, table, withData} from '../components.js';
import {fmtTime, h, mount, timeAgo} from '../dom.js';
import {setQuery} from '../router.js';

const SHOWN = 20;  // evaluations per page of the tab
const e = encodeURIComponent;

export function workspaceEntity(workspace) {
  return `accountIdentifier:${workspace.account}/orgIdentifier:${workspace.org}` +
         `/projectIdentifier:${workspace.project}/workspaceIdentifier:${workspace.identifier}`;
}

export async function render(container, tabCtx) {
  const {org, project, workspace} = tabCtx;
  const entity = workspaceEntity({account: workspace.account, org, project,
                                  identifier: workspace.identifier || tabCtx.ws});
  const state = {
    status: tabCtx.query.get('status') || '',
    type: tabCtx.query.get('type') || '',
    before: tabCtx.query.get('before') || '',
    history: [],  // cursors of the newer pages, for "Newer"
  };
  const area = h('div', {class: 'evaluations'});
  const statusSelect = h('select', {id: 'evaluations-status', name: 'status'},
    h('option', {value: ''}, 'Any result'),
    ['pass', 'warning', 'error'].map((s) => h('option', {value: s, selected: s === state.status}, s)));
  const typeSelect = h('select', {id: 'evaluations-type', name: 'type'},
    h('option', {value: ''}, 'Any entity type'),
    [['workspace', 'Workspace'], ['terraformPlan', 'Terraform plan'],
     ['terraformPlanCost', 'Terraform plan cost'], ['terraformState', 'Terraform state']]
      .map(([v, l]) => h('option', {value: v, selected: v === state.type}, l)));
  const onFilter = () => {
    state.status = statusSelect.value;
    state.type = typeSelect.value;
    state.before = '';
    state.history = [];
    load();
  };
  statusSelect.addEventListener('change', onFilter);
  typeSelect.addEventListener('change', onFilter);

  async function scan() {
    const {data} = await api.get('/pm/api/v1/evaluations', {
      orgIdentifier: org, projectIdentifier: project, entity_prefix: entity, status: state.status,
      type: state.type, last_seen: state.before, limit: SHOWN + 1});
    const found = data.slice(0, SHOWN);
    return {found, next: data.length > SHOWN ? String(found[found.length - 1].id) : ''};
  }

  function load() {
    setQuery({status: state.status, type: state.type, before: state.before});
    return withData(area, scan, ({found, next}) => {
      const nav = h('nav', {class: 'pager', 'aria-label': 'Pagination'},
        h('button', {type: 'button', disabled: !state.before, onclick: () => {
          state.before = state.history.pop() || '';
          load();
        }}, '‹ Newer'),
        h('span', {class: 'pager-info'}, state.before ? `Older than evaluation ${state.before}` : 'Newest'),
        h('button', {type: 'button', disabled: !next, onclick: () => {
          state.history.push(state.before);
          state.before = next;
          load();
        }}, 'Older ›'));
      if (!found.length) {
        return [emptyState(state.status || state.type || state.before
          ? 'No evaluation of this workspace matches.'
          : 'No policy has been evaluated for this workspace yet. Policy sets of the project, its organization or the account run on saves, plans, cost estimates and states.',
          h('a', {class: 'button', href: `/ui/policies?org=${e(org)}&project=${e(project)}`}, 'Manage policies')),
          state.before || next ? nav : null];
      }
      return [evaluationList(found, {base: tabCtx.base}), nav];
    });
  }

  mount(container,
    h('div', {class: 'toolbar filters'},
      field('Result', statusSelect), field('Entity type', typeSelect),
      h('span', {class: 'spacer'}),
      h('a', {href: `/ui/policies?org=${e(org)}&project=${e(project)}`}, 'Policies and policy sets ›'),
      h('button', {type: 'button', onclick: load}, 'Refresh')),
    area);
  load();
}

function parseMeta(meta) {
  if (meta && typeof meta === 'object') return meta;
  try { return JSON.parse(meta || '{}') || {}; } catch { return {}; }
}

const ENTITY_LABELS = {workspace: 'Workspace', terraformPlan: 'Terraform plan',
  terraformPlanCost: 'Plan cost', terraformState: 'State'};

// What an evaluation was about, in words.
function subjectOf(ev) {
  const meta = parseMeta(ev.entity_metadata);
  const what = ENTITY_LABELS[ev.type] || ev.type;
  if (meta.data_type) return `${what} (${meta.data_type} ${String(meta.data_id || '').slice(0, 8)})`;
  if (ev.action === 'onforceunlock') return `${what} force-unlock`;
  return `${what} ${ev.action === 'onsave' ? 'save' : ev.action}`;
}

// The policy page of a policy or set document (its level in the query).
export function levelQuery(doc) {
  const q = new URLSearchParams();
  if (doc.org_id) q.set('org', doc.org_id);
  if (doc.project_id) q.set('project', doc.project_id);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// Evaluations as expandable items: used here and on a run's page. openIf(ev, index) says which
// start open (by default the newest).
export function evaluationList(evaluations, {base, openIf = (ev, i) => i === 0} = {}) {
  return h('ul', {class: 'evaluation-list'}, evaluations.map((ev, i) =>
    h('li', null, h('details', {class: 'evaluation', open: openIf(ev, i), dataset: {evaluationId: ev.id, status: ev.status}},
      h('summary', null,
        statusBadge(ev.status), ' ',
        h('span', {class: 'evaluation-subject'}, subjectOf(ev)), ' ',
        h('span', {class: 'muted'}, `${ev.action} · #${ev.id} · `, timeAgo(ev.created))),
      evaluationDetails(ev, {base})))));
}

export function evaluationDetails(ev, {base} = {}) {
  const sets = Array.isArray(ev.details) ? ev.details : [];
  return h('div', {class: 'evaluation-body'},
    h('p', {class: 'muted'},
      `${fmtTime(ev.created)} · ${ev.duration_ms ?? '—'} ms`,
      ev.execution_id && base ? [' · ', h('a', {href: `${base}/runs/${e(ev.execution_id)}`}, 'run / execution ',
                                          h('code', null, ev.execution_id.slice(0, 8)))] : null),
    sets.length ? sets.map((set) => h('div', {class: 'evaluation-set'},
      h('h4', null, statusBadge(set.status), ' ',
        h('a', {href: `/ui/policysets/${e(set.identifier)}${levelQuery(set)}`}, set.name || set.identifier),
        ' ', h('span', {class: 'muted'}, `${set.type} / ${set.action}`)),
      table([
        {label: 'Policy', cell: (p) => p.policy
          ? h('a', {href: `/ui/policies/${e(p.policy.identifier)}${levelQuery(p.policy)}`}, p.policy.name || p.policy.identifier)
          : '—'},
        {label: 'Severity', cell: (p) => badge(p.severity || '—', p.severity === 'error' ? 'bad' : 'warn')},
        {label: 'Result', cell: (p) => statusBadge(p.status)},
        {label: 'Messages', cell: (p) => messages(p)},
      ], set.details || [])))
      : h('p', {class: 'muted'}, 'No policy set applied.'));
}

function messages(p) {
  const deny = p.deny_messages || [];
  const warn = p.warn_messages || [];
  const error = p.error || p.rego_error;
  if (!deny.length && !warn.length && !error) return h('span', {class: 'muted'}, 'none');
  return h('ul', {class: 'policy-messages'},
    error ? h('li', {class: 'msg-error'}, h('strong', null, 'error: '), error) : null,
    deny.map((m) => h('li', {class: 'msg-deny'}, h('strong', null, 'deny: '), m)),
    warn.map((m) => h('li', {class: 'msg-warn'}, h('strong', null, 'warn: '), m)));
}
