// Policies and policy sets of one level (/ui/policies?org=&project=): the account (neither),
// an organization (org) or a project (org and project). Lists with search and pages, and
// forms that create a policy or a set. Also the helpers the policy and set pages share.
import {api, paths} from '../api.js';
import {badge, emptyState, field, pager, setFieldError, table,
        withData} from '../components.js';
import {h, mount, timeAgo} from '../dom.js';
import {clearFormErrors} from '../forms.js';
import {navigate, setQuery} from '../router.js';

const PM = '/pm/api/v1';
const PAGE_SIZE = 20;
const e = encodeURIComponent;

// Entity types and the events that trigger them (kPolicyTriggers in src/domain/policies.h).
export const TRIGGERS = [
  {type: 'workspace', action: 'onsave', label: 'Workspace, on save'},
  {type: 'workspace', action: 'onforceunlock', label: 'Workspace, before a force-unlock'},
  {type: 'terraformPlan', action: 'afterTerraformPlan', label: 'Terraform plan, after a plan'},
  {type: 'terraformPlanCost', action: 'afterTerraformPlan', label: 'Terraform plan cost, after a plan'},
  {type: 'terraformState', action: 'afterTerraformPlan', label: 'Terraform state, after a plan'},
  {type: 'terraformState', action: 'afterTerraformApply', label: 'Terraform state, after an apply'},
];
export const ENTITY_TYPES = [...new Set(TRIGGERS.map((t) => t.type))];
export const actionsOf = (type) => TRIGGERS.filter((t) => t.type === type).map((t) => t.action);

export const REGO_TEMPLATE = `package terraform_plan
import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  "delete" in rc.change.actions
  msg := sprintf("%s would be deleted", [rc.address])
}
`;

// {org, project} from the page's query ('' for levels above).
export function levelOf(query) {
  const org = query.get('org') || '';
  return {org, project: org ? query.get('project') || '' : ''};
}

// The PM API's query for a level.
export function pmQuery(level) {
  return {orgIdentifier: level.org || null, projectIdentifier: level.project || null};
}

// "?org=a&project=b" for console URLs.
export function levelSuffix(level) {
  const q = new URLSearchParams();
  if (level.org) q.set('org', level.org);
  if (level.project) q.set('project', level.project);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function levelName(level) {
  if (level.project) return `project ${level.org}/${level.project}`;
  if (level.org) return `organization ${level.org}`;
  return 'account';
}

export function levelCrumbs(level) {
  return [{label: 'Policies', href: `/ui/policies${levelSuffix(level)}`},
          {label: levelName(level), href: `/ui/policies${levelSuffix(level)}`}];
}

// Puts a 400's message next to the field it names ("identifier: must …", Rego errors on
// `rego`), or in the form's own error slot.
export function showFormError(form, err, slot) {
  const m = /^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?): /.exec(err.message || '');
  if (err.status === 400 && m && setFieldError(form, m[1].replace(/\[\d+\].*$/, ''), err.message)) return;
  if (err.status === 400 && /rego_|policy\.rego/.test(err.message) && setFieldError(form, 'rego', err.message)) return;
  slot.textContent = err.message;
}

export async function render(main, params, query, ctx) {
  const level = levelOf(query);
  ctx.setTitle(`Policies · ${levelName(level)}`);
  ctx.setCrumbs([{label: 'Organizations', href: '/ui'}, ...levelCrumbs(level)]);
  const state = {q: query.get('q') || '', page: Number(query.get('page')) || 0,
                 setpage: Number(query.get('setpage')) || 0};
  const syncUrl = () => setQuery({org: level.org, project: level.project, q: state.q,
                                  page: state.page || '', setpage: state.setpage || ''});

  const policiesArea = h('div');
  const setsArea = h('div');
  const search = h('input', {id: 'policy-search', name: 'q', type: 'search', value: state.q,
                             autocomplete: 'off', placeholder: 'Name or identifier'});
  let searchTimer;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = search.value.trim(); state.page = 0; state.setpage = 0; loadAll(); }, 300);
  });

  function loadPolicies() {
    syncUrl();
    return withData(policiesArea,
      () => api.get(`${PM}/policies`, {...pmQuery(level), searchTerm: state.q, page: state.page,
                                       limit: PAGE_SIZE, excludeRegoFromResponse: true,
                                       includePolicySetCount: true, sort: 'name,ASC'}),
      ({data, headers}) => {
        const total = Number(headers.get('X-Total-Elements') || data.length);
        if (!data.length) return emptyState(state.q ? 'No policy matches.' : `No policy at the ${levelName(level)} level yet.`);
        return [
          table([
            {label: 'Name', cell: (p) => h('a', {href: `/ui/policies/${e(p.identifier)}${levelSuffix(level)}`}, p.name || p.identifier)},
            {label: 'Identifier', cell: (p) => h('code', null, p.identifier)},
            {label: 'Package', cell: (p) => h('code', null, p.policy_package_name || '—')},
            {label: 'Policy sets', class: 'num', cell: (p) => String(p.policy_set_count ?? '—')},
            {label: 'Updated', cell: (p) => timeAgo(p.updated)},
          ], data, {caption: 'Policies', rowProps: (p) => ({dataset: {policy: p.identifier}})}),
          pager({page: state.page, first: 0, total, pageCount: Math.ceil(total / PAGE_SIZE),
                 onPage: (p) => { state.page = p; loadPolicies(); }}),
        ];
      });
  }

  function loadSets() {
    syncUrl();
    return withData(setsArea,
      () => api.get(`${PM}/policysets`, {...pmQuery(level), searchTerm: state.q, page: state.setpage,
                                         limit: PAGE_SIZE, sort: 'name,ASC'}),
      ({data, headers}) => {
        const total = Number(headers.get('X-Total-Elements') || data.length);
        if (!data.length) return emptyState(state.q ? 'No policy set matches.' : `No policy set at the ${levelName(level)} level yet.`);
        return [
          table([
            {label: 'Name', cell: (s) => h('a', {href: `/ui/policysets/${e(s.identifier)}${levelSuffix(level)}`}, s.name || s.identifier)},
            {label: 'Entity type', cell: (s) => s.type},
            {label: 'Event', cell: (s) => s.action},
            {label: 'Enabled', cell: (s) => s.enabled ? badge('enabled', 'ok') : badge('disabled', 'neutral')},
            {label: 'Policies', class: 'num', cell: (s) => String((s.policies || []).length)},
            {label: 'Updated', cell: (s) => timeAgo(s.updated)},
          ], data, {caption: 'Policy sets', rowProps: (s) => ({dataset: {policySet: s.identifier}})}),
          pager({page: state.setpage, first: 0, total, pageCount: Math.ceil(total / PAGE_SIZE),
                 onPage: (p) => { state.setpage = p; loadSets(); }}),
        ];
      });
  }

  function loadAll() {
    loadPolicies();
    loadSets();
  }

  mount(main,
    h('div', {class: 'page-head'}, h('h1', null, 'Policies'),
      h('span', {class: 'page-meta'}, badge(levelName(level), 'info'))),
    levelPicker(level),
    h('div', {class: 'toolbar filters'}, field('Search policies and sets', search)),
    h('section', {class: 'policy-section', 'aria-labelledby': 'policies-title'},
      h('h2', {id: 'policies-title'}, 'Policies'),
      newPolicyForm(level),
      policiesArea),
    h('section', {class: 'policy-section', 'aria-labelledby': 'sets-title'},
      h('h2', {id: 'sets-title'}, 'Policy sets'),
      newSetForm(level),
      setsArea));
  loadAll();
}

// Organization and project selects; changing them opens that level's page.
function levelPicker(level) {
  const orgSelect = h('select', {id: 'level-org', name: 'org'}, h('option', {value: ''}, '— account level —'));
  const projectSelect = h('select', {id: 'level-project', name: 'project', disabled: !level.org},
    h('option', {value: ''}, '— organization level —'));
  const status = h('p', {class: 'field-hint', role: 'status'});
  const go = (org, project) => navigate(`/ui/policies${levelSuffix({org, project})}`);
  orgSelect.addEventListener('change', () => go(orgSelect.value, ''));
  projectSelect.addEventListener('change', () => go(level.org, projectSelect.value));
  const addOptions = (select, items, selected) => {
    for (const id of items) select.appendChild(h('option', {value: id, selected: id === selected}, id));
    if (selected && !items.includes(selected)) select.appendChild(h('option', {value: selected, selected: true}, selected));
  };
  api.get('/v1/orgs', {limit: 100, sort: 'name', order: 'ASC'})
    .then(({data}) => addOptions(orgSelect, data.map((o) => o.org.identifier), level.org))
    .catch((err) => { status.textContent = `Organizations could not be listed: ${err.message}`; addOptions(orgSelect, [], level.org); });
  if (level.org) {
    api.get(paths.projects(level.org), {limit: 100, sort: 'name', order: 'ASC'})
      .then(({data}) => addOptions(projectSelect, data.map((p) => p.project.identifier), level.project))
      .catch((err) => { status.textContent = `Projects could not be listed: ${err.message}`; addOptions(projectSelect, [], level.project); });
  }
  return h('fieldset', {class: 'level-picker'},
    h('legend', null, 'Level'),
    h('div', {class: 'level-fields'}, field('Organization', orgSelect), field('Project', projectSelect)),
    status);
}

function newPolicyForm(level) {
  const identifier = h('input', {id: 'new-policy-identifier', name: 'identifier', required: true,
                                 pattern: '[A-Za-z_][A-Za-z0-9_-]*', maxlength: '128', autocomplete: 'off'});
  const name = h('input', {id: 'new-policy-name', name: 'name', required: true, autocomplete: 'off'});
  const rego = h('textarea', {id: 'new-policy-rego', name: 'rego', rows: '10', spellcheck: 'false',
                              value: REGO_TEMPLATE});
  const formError = h('p', {class: 'field-error', role: 'alert'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Create policy');
  const form = h('form', {class: 'create-form', novalidate: true, id: 'new-policy-form'},
    field('Identifier', identifier, {hint: 'Letters, digits, _ and -; starts with a letter or _.'}),
    field('Name', name),
    field('Rego', rego, {hint: 'Compiled when saved. deny gives errors (or warnings, as the set says), warn warnings.'}),
    formError, h('div', {class: 'form-actions'}, submit));
  name.addEventListener('input', () => {
    if (!identifier.dataset.touched) identifier.value = name.value.trim().replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^(?=[0-9-])/, '_');
  });
  identifier.addEventListener('input', () => { identifier.dataset.touched = '1'; });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    formError.textContent = '';
    if (!identifier.value.trim()) { setFieldError(form, 'identifier', 'An identifier is required.'); identifier.focus(); return; }
    if (!name.value.trim()) { setFieldError(form, 'name', 'A name is required.'); name.focus(); return; }
    submit.disabled = true;
    try {
      const {data} = await api.post(`${PM}/policies`, {identifier: identifier.value.trim(), name: name.value.trim(),
                                                      rego: rego.value}, {query: pmQuery(level)});
      navigate(`/ui/policies/${e(data.identifier)}${levelSuffix(level)}`);
    } catch (err) {
      showFormError(form, err, formError);
      submit.disabled = false;
    }
  });
  return h('details', {class: 'card create-card'}, h('summary', null, h('strong', null, 'New policy')), form);
}

function newSetForm(level) {
  const identifier = h('input', {id: 'new-set-identifier', name: 'identifier', required: true,
                                 pattern: '[A-Za-z_][A-Za-z0-9_-]*', maxlength: '128', autocomplete: 'off'});
  const name = h('input', {id: 'new-set-name', name: 'name', required: true, autocomplete: 'off'});
  const type = h('select', {id: 'new-set-type', name: 'type'},
    ENTITY_TYPES.map((t) => h('option', {value: t}, t)));
  const action = h('select', {id: 'new-set-action', name: 'action'});
  const fillActions = () => mount(action, actionsOf(type.value).map((a) => h('option', {value: a}, a)));
  type.addEventListener('change', fillActions);
  fillActions();
  const enabled = h('input', {id: 'new-set-enabled', name: 'enabled', type: 'checkbox', checked: true});
  const formError = h('p', {class: 'field-error', role: 'alert'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Create policy set');
  const form = h('form', {class: 'create-form', novalidate: true, id: 'new-set-form'},
    field('Identifier', identifier), field('Name', name),
    h('div', {class: 'level-fields'}, field('Entity type', type), field('Event', action)),
    h('div', {class: 'field field-check'}, h('label', {for: 'new-set-enabled'}, enabled, ' Enabled')),
    h('p', {class: 'field-hint'}, 'Link policies to the set on its page once it exists.'),
    formError, h('div', {class: 'form-actions'}, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    formError.textContent = '';
    if (!identifier.value.trim()) { setFieldError(form, 'identifier', 'An identifier is required.'); identifier.focus(); return; }
    if (!name.value.trim()) { setFieldError(form, 'name', 'A name is required.'); name.focus(); return; }
    submit.disabled = true;
    try {
      const {data} = await api.post(`${PM}/policysets`, {
        identifier: identifier.value.trim(), name: name.value.trim(), type: type.value,
        action: action.value, enabled: enabled.checked, policies: []}, {query: pmQuery(level)});
      navigate(`/ui/policysets/${e(data.identifier)}${levelSuffix(level)}`);
    } catch (err) {
      showFormError(form, err, formError);
      submit.disabled = false;
    }
  });
  return h('details', {class: 'card create-card'}, h('summary', null, h('strong', null, 'New policy set')), form);
}
