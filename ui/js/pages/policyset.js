// One policy set (/ui/policysets/:set?org=&project=): its name, entity type, event and
// enabled flag, and the policies it links with their severity. Everything is edited in one
// form and saved with PATCH (If-Match: the ETag read with the set); links are replaced whole.
import {ApiError, api} from '../api.js';
import {badge, confirmDialog, field, notify, setFieldError} from '../components.js';
import {h, mount, timeAgo} from '../dom.js';
import {clearFormErrors} from '../forms.js';
import {navigate} from '../router.js';
import {ENTITY_TYPES, actionsOf, levelCrumbs, levelName, levelOf, levelSuffix, pmQuery,
        showFormError} from './policies.js';

const PM = '/pm/api/v1';
const e = encodeURIComponent;

// How a set of `level` names a policy document: "<id>" at its own level, "org.<id>" or
// "account.<id>" above it.
function refOf(policy, level) {
  const org = policy.org_id || '';
  const project = policy.project_id || '';
  if (org === level.org && project === level.project) return policy.identifier;
  return org && !project ? `org.${policy.identifier}` : `account.${policy.identifier}`;
}

// The levels whose policies a set of `level` may link: its own and those above.
function levelsFor(level) {
  const out = [{org: '', project: ''}];
  if (level.org) out.push({org: level.org, project: ''});
  if (level.project) out.push(level);
  return out;
}

export async function render(main, params, query, ctx) {
  const level = levelOf(query);
  const id = params.set;
  const path = `${PM}/policysets/${e(id)}`;
  ctx.setTitle(`Policy set ${id}`);
  ctx.setCrumbs([{label: 'Organizations', href: '/ui'}, ...levelCrumbs(level), {label: `set ${id}`}]);

  let {data: set, etag} = await api.get(path, pmQuery(level));
  // Links being edited: {ref, name, levelLabel, severity, href}.
  let links = [];
  const linkOf = (p) => ({ref: refOf(p, level), name: p.name || p.identifier, severity: p.severity || 'error',
                          levelLabel: levelName({org: p.org_id, project: p.project_id}),
                          href: `/ui/policies/${e(p.identifier)}${levelSuffix({org: p.org_id, project: p.project_id})}`});

  const name = h('input', {id: 'set-name', name: 'name', type: 'text', autocomplete: 'off', required: true});
  const description = h('input', {id: 'set-description', name: 'description', type: 'text', autocomplete: 'off'});
  const type = h('select', {id: 'set-type', name: 'type'}, ENTITY_TYPES.map((t) => h('option', {value: t}, t)));
  const action = h('select', {id: 'set-action', name: 'action'});
  const fillActions = (selected) => mount(action, actionsOf(type.value).map((a) =>
    h('option', {value: a, selected: a === selected}, a)));
  type.addEventListener('change', () => fillActions(action.value));
  const enabled = h('input', {id: 'set-enabled', name: 'enabled', type: 'checkbox'});
  const linksArea = h('div', {class: 'set-links', id: 'set-links'});
  const addArea = h('div', {class: 'set-add'});
  const formError = h('p', {class: 'field-error', role: 'alert'});
  const save = h('button', {type: 'submit', class: 'primary', id: 'set-save'}, 'Save');
  const meta = h('p', {class: 'page-meta'});

  function fill() {
    name.value = set.name || '';
    description.value = set.description || '';
    type.value = set.type;
    fillActions(set.action);
    enabled.checked = Boolean(set.enabled);
    links = (set.policies || []).map(linkOf);
    mount(meta, badge(levelName(level), 'info'), ' ',
          set.enabled ? badge('enabled', 'ok') : badge('disabled', 'neutral'), ' updated ', timeAgo(set.updated));
    showLinks();
  }

  function showLinks() {
    if (!links.length) {
      mount(linksArea, h('p', {class: 'state-empty'}, 'No policy is linked: the set checks nothing.'));
      return;
    }
    mount(linksArea, h('div', {class: 'table-wrap'}, h('table', null,
      h('caption', null, 'Linked policies'),
      h('thead', null, h('tr', null, ['Policy', 'Level', 'Severity', ''].map((l) => h('th', {scope: 'col'}, l)))),
      h('tbody', null, links.map((link, i) => {
        const severity = h('select', {id: `link-severity-${i}`, 'aria-label': `Severity of ${link.name}`},
          [['error', 'error (deny blocks)'], ['warning', 'warning (warn and continue)']].map(([v, l]) =>
            h('option', {value: v, selected: v === link.severity}, l)));
        severity.addEventListener('change', () => { link.severity = severity.value; });
        return h('tr', {dataset: {policyRef: link.ref}},
          h('td', null, h('a', {href: link.href}, link.name), ' ', h('code', {class: 'muted'}, link.ref)),
          h('td', null, link.levelLabel),
          h('td', null, severity),
          h('td', null, h('button', {type: 'button', 'aria-label': `Unlink ${link.name}`, onclick: () => {
            links.splice(i, 1);
            showLinks();
            addArea.querySelector('select')?.focus();
          }}, 'Unlink')));
      })))));
  }

  // A select of the policies of this level and the levels above, to link one more.
  async function showAdd() {
    mount(addArea, h('p', {class: 'state-loading'}, 'Loading policies…'));
    let options = [];
    try {
      const pages = await Promise.all(levelsFor(level).map((l) =>
        api.get(`${PM}/policies`, {...pmQuery(l), limit: 100, excludeRegoFromResponse: true, sort: 'name,ASC'})));
      options = pages.flatMap(({data}) => data).map((p) => linkOf(p));
    } catch (err) {
      mount(addArea, h('p', {class: 'field-error'}, `Policies could not be listed: ${err.message}`));
      return;
    }
    const pick = h('select', {id: 'link-policy'},
      h('option', {value: ''}, '— choose a policy —'),
      options.map((o, i) => h('option', {value: String(i)}, `${o.name} (${o.levelLabel})`)));
    const severity = h('select', {id: 'link-severity'},
      h('option', {value: 'error'}, 'error'), h('option', {value: 'warning'}, 'warning'));
    const add = h('button', {type: 'button', id: 'link-add', onclick: () => {
      const o = options[Number(pick.value)];
      if (!pick.value || !o) { pick.focus(); return; }
      const existing = links.find((l) => l.ref === o.ref);
      if (existing) existing.severity = severity.value;
      else links.push({...o, severity: severity.value});
      showLinks();
      pick.value = '';
      pick.focus();
    }}, 'Link policy');
    mount(addArea, h('div', {class: 'level-fields'}, field('Policy to link', pick), field('Severity', severity),
                     h('div', {class: 'field field-button'}, add)));
  }

  const form = h('form', {class: 'set-form', novalidate: true, id: 'set-form'},
    h('div', {class: 'level-fields'}, field('Name', name), field('Description', description)),
    h('div', {class: 'level-fields'}, field('Entity type', type), field('Event', action)),
    h('div', {class: 'field field-check'}, h('label', {for: 'set-enabled'}, enabled, ' Enabled (enforced)')),
    h('h2', null, 'Policies'),
    linksArea, addArea,
    formError,
    h('div', {class: 'form-actions'}, save,
      h('button', {type: 'button', onclick: () => { fill(); clearFormErrors(form); formError.textContent = ''; }}, 'Revert')));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    formError.textContent = '';
    if (!name.value.trim()) { setFieldError(form, 'name', 'A name is required.'); name.focus(); return; }
    save.disabled = true;
    try {
      await api.patch(path, {
        name: name.value.trim(), description: description.value.trim(), type: type.value,
        action: action.value, enabled: enabled.checked,
        policies: links.map((l) => ({identifier: l.ref, severity: l.severity})),
      }, {query: pmQuery(level), headers: etag ? {'If-Match': etag} : {}});
      ({data: set, etag} = await api.get(path, pmQuery(level)));
      fill();
      notify(`Policy set ${id} saved.`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        formError.replaceChildren('Someone changed this set since you opened it. ',
          h('button', {type: 'button', onclick: async () => {
            ({data: set, etag} = await api.get(path, pmQuery(level)));
            fill();
            formError.textContent = '';
          }}, 'Load their version (your edits are lost)'));
      } else {
        showFormError(form, err, formError);
      }
    } finally {
      save.disabled = false;
    }
  });

  async function remove() {
    const ok = await confirmDialog({title: `Delete policy set ${id}?`, danger: true, confirmLabel: 'Delete',
      message: 'Its policies stay; they are no longer enforced through this set.'});
    if (!ok) return;
    try {
      await api.del(path, {query: pmQuery(level), headers: etag ? {'If-Match': etag} : {}});
      notify(`Policy set ${id} deleted.`);
      navigate(`/ui/policies${levelSuffix(level)}`);
    } catch (err) {
      notify(err.message, 'bad');
    }
  }

  mount(main,
    h('div', {class: 'page-head'}, h('h1', null, set.name || id), meta,
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', class: 'danger', id: 'set-delete', onclick: remove}, 'Delete set')),
    form);
  fill();
  showAdd();
}
