// /ui/orgs/:org/projects/:project: the project's workspaces, one page at a time (search,
// status, tags, sort and page size live in the URL), and a form to create one.
import {api, paths} from '../api.js';
import {badge, emptyState, field, notify, setFieldError, statusBadge, withData} from '../components.js';
import {fmtMoney, h, mount, timeAgo} from '../dom.js';
import {navigate, setQuery} from '../router.js';
import {clearFormErrors, createPanel, formStatus, intParam, linkIdentifier, listResults,
        nameCell, showFormError, totalOf} from '../forms.js';

const e = encodeURIComponent;

export const PROVISIONERS = ['terraform', 'opentofu', 'terragrunt', 'ansible'];
const STATUSES = ['active', 'inactive', 'provisioning', 'destroying', 'failed', 'unknown',
                  'rollback_applied'];
const SORTS = [
  {value: 'name:ASC', label: 'Name, A to Z'},
  {value: 'name:DESC', label: 'Name, Z to A'},
  {value: 'updated:DESC', label: 'Recently updated first'},
  {value: 'updated:ASC', label: 'Least recently updated first'},
];
const LIMITS = [25, 50, 100];
const WORKSPACE_ID = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function readFilters(query) {
  const sort = `${query.get('sort') || 'name'}:${(query.get('order') || 'ASC').toUpperCase()}`;
  const limit = intParam(query, 'limit', 25);
  return {
    searchTerm: query.get('searchTerm') || '',
    status: STATUSES.includes(query.get('status')) ? query.get('status') : '',
    tags: query.get('tags') || '',
    sort: SORTS.some((s) => s.value === sort) ? sort : 'name:ASC',
    limit: LIMITS.includes(limit) ? limit : 25,
    page: intParam(query, 'page', 1),
  };
}

// The URL query of a filter state (defaults left out, so URLs stay short).
function urlQuery(f) {
  const [sort, order] = f.sort.split(':');
  return {searchTerm: f.searchTerm, status: f.status, tags: f.tags,
          sort: f.sort === 'name:ASC' ? null : sort, order: f.sort === 'name:ASC' ? null : order,
          limit: f.limit === 25 ? null : f.limit, page: f.page > 1 ? f.page : null};
}

export async function render(main, params, query, ctx) {
  const {org, project} = params;
  const projectUrl = `/ui/orgs/${e(org)}/projects/${e(project)}`;
  ctx.setTitle(`${project} · Workspaces`);
  ctx.setCrumbs([{label: 'Organizations', href: '/ui'}, {label: org, href: `/ui/orgs/${e(org)}`},
                 {label: project, href: projectUrl}]);
  const listPath = paths.workspaces(org, project);
  const wsUrl = (id) => `${projectUrl}/workspaces/${e(id)}`;
  const f = readFilters(query);
  const filtered = () => Boolean(f.searchTerm || f.status || f.tags);

  // Filters.
  const search = h('input', {id: 'ws-search', name: 'searchTerm', type: 'search', value: f.searchTerm,
                             autocomplete: 'off', spellcheck: 'false'});
  const status = h('select', {id: 'ws-status', name: 'status'},
    h('option', {value: ''}, 'Any status'),
    STATUSES.map((s) => h('option', {value: s, selected: s === f.status}, s)));
  const tags = h('input', {id: 'ws-tags', name: 'tags', type: 'text', value: f.tags,
                           autocomplete: 'off', spellcheck: 'false', placeholder: 'env:prod, team'});
  const sort = h('select', {id: 'ws-sort', name: 'sort'},
    SORTS.map((s) => h('option', {value: s.value, selected: s.value === f.sort}, s.label)));
  const limit = h('select', {id: 'ws-limit', name: 'limit'},
    LIMITS.map((n) => h('option', {value: String(n), selected: n === f.limit}, String(n))));
  const clear = h('button', {type: 'button', hidden: !filtered()}, 'Clear filters');
  const filters = h('form', {class: 'list-filters', role: 'search'},
    field('Search', search, {hint: 'Name or identifier'}),
    field('Status', status),
    field('Tags', tags, {hint: 'key:value or key, comma separated'}),
    field('Sort', sort),
    field('Per page', limit),
    h('div', {class: 'filter-actions'}, h('button', {type: 'submit'}, 'Apply'), clear));

  const results = h('div', {class: 'list-results', tabindex: '-1'});
  let controller = null;
  let timer = null;
  const load = async (focusResults = false) => {
    setQuery(urlQuery(f));
    clear.hidden = !filtered();
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const [sortField, order] = f.sort.split(':');
    // Timings for the browser tests (performance.getEntriesByName): the request, and the rows
    // built and laid out once the answer is in.
    performance.clearMarks('workspace-list:fetch');
    performance.mark('workspace-list:fetch');
    await withData(results, async () => {
      const reply = await api.get(listPath, {searchTerm: f.searchTerm, status: f.status, tags: f.tags,
                                             sort: sortField, order, page: f.page, limit: f.limit},
                                  {signal});
      performance.clearMarks('workspace-list:fetched');
      performance.mark('workspace-list:fetched');
      return {rows: reply.data, total: totalOf(reply)};
    }, ({rows, total}) => listResults({
      rows, total, page: f.page, limit: f.limit, columns,
      caption: `${total ?? rows.length} ${filtered() ? 'matching ' : ''}workspace${total === 1 ? '' : 's'}`,
      onPage: (p) => { f.page = p; load(true); },
      empty: () => {
        if (filtered()) {
          return emptyState('No workspace matches these filters.',
                            h('button', {type: 'button', onclick: clearFilters}, 'Clear filters'));
        }
        panel.open = true;
        return emptyState('This project has no workspaces yet. Create the first one above.');
      },
    }));
    if (results.isConnected && performance.getEntriesByName('workspace-list:fetched').length) {
      results.getBoundingClientRect();  // the layout of the new rows, inside the measure
      performance.clearMeasures('workspace-list:render');
      performance.measure('workspace-list:render', 'workspace-list:fetched');
    }
    if (focusResults && results.isConnected) results.focus();
  };
  const apply = () => {
    clearTimeout(timer);
    Object.assign(f, {searchTerm: search.value.trim(), status: status.value, tags: tags.value.trim(),
                      sort: sort.value, limit: Number(limit.value), page: 1});
    load();
  };
  function clearFilters() {
    search.value = '';
    status.value = '';
    tags.value = '';
    apply();
    search.focus();
  }
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });
  for (const select of [status, sort, limit]) select.addEventListener('change', apply);
  for (const input of [search, tags]) {
    input.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => { if (input.isConnected) apply(); }, 350);
    });
  }
  clear.addEventListener('click', clearFilters);

  // A tag links to this list filtered by it too.
  const tagHref = (tag) => {
    const have = f.tags.split(',').map((t) => t.trim()).filter(Boolean);
    const q = new URLSearchParams(Object.entries(urlQuery({...f, page: 1}))
        .filter(([, v]) => v !== null && v !== ''));
    q.set('tags', have.includes(tag) ? have.join(',') : [...have, tag].join(','));
    return `${projectUrl}?${q}`;
  };
  const columns = [
    {label: 'Name', cell: (w) => nameCell(w.name, w.identifier, wsUrl(w.identifier))},
    {label: 'Status', cell: (w) => statusBadge(w.status)},
    {label: 'Provisioner', cell: (w) => w.provisioner || '—'},
    {label: 'Version', cell: (w) => w.provisioner_version || '—'},
    {label: 'Lock', cell: lockCell},
    {label: 'Updated', cell: (w) => timeAgo(w.updated)},
    {label: 'Monthly cost', class: 'num', cell: (w) => fmtMoney(w.cost_total_monthly, w.cost_currency || 'USD')},
    {label: 'Tags', cell: (w) => tagList(w.tags, tagHref)},
  ];

  const panel = createPanel('New workspace', createForm(listPath, wsUrl));
  mount(main,
    h('div', {class: 'page-head'}, h('h1', null, 'Workspaces'),
      h('span', {class: 'page-meta'}, `${org} / ${project}`)),
    panel, filters, results);
  load();

  // Counts per status (kept as counters by the server) label the status filter.
  api.get(`${paths.iacmProject(org, project)}/workspace-metrics`).then(({data}) => {
    const counts = data && data.status_counts;
    if (!counts) return;
    for (const option of status.options) {
      if (option.value && counts[option.value] !== undefined) {
        option.textContent = `${option.value} (${counts[option.value]})`;
      }
    }
  }).catch(() => { /* the filter works without the counts */ });
}

// The holder: Terraform's "Who" of the lock, else the principal that took it; and since when.
function lockCell(w) {
  if (!w.backend_locked) return '—';
  const lock = w.lock || {};
  const holder = (lock.info && lock.info.who) || lock.locked_by_display_name;
  const since = lock.created_at;
  return h('span', {class: 'lock-cell'}, badge('locked', 'warn'), ' ',
           holder ? `by ${holder}` : 'holder unknown', since ? [' · ', timeAgo(since)] : null);
}

function tagList(tags, hrefOf) {
  const entries = Object.entries(tags || {});
  if (!entries.length) return '—';
  return h('ul', {class: 'tag-list'}, entries.map(([k, v]) => {
    const tag = v ? `${k}:${v}` : k;
    return h('li', null, h('a', {class: 'tag', href: hrefOf(tag), title: `Filter by ${tag}`}, tag));
  }));
}

// The create form: what the server requires (identifier, name, provisioner; provider_connector
// and both variable maps may be empty) and the repository it runs from.
function createForm(listPath, wsUrl) {
  const input = (name, props = {}) => h('input', {id: `new-ws-${name}`, name, type: 'text',
                                                  autocomplete: 'off', ...props});
  const name = input('name', {required: true, maxlength: 128});
  const ident = input('identifier', {required: true, maxlength: 128, spellcheck: 'false'});
  const provisioner = h('select', {id: 'new-ws-provisioner', name: 'provisioner', required: true},
                        PROVISIONERS.map((p) => h('option', {value: p}, p)));
  const version = input('provisioner_version', {maxlength: 64, placeholder: 'latest'});
  const connector = input('provider_connector', {maxlength: 128});
  const description = h('textarea', {id: 'new-ws-description', name: 'description', rows: 2,
                                     class: 'short'});
  const repo = {
    repository: input('repository', {maxlength: 1024, placeholder: 'https://github.com/acme/infra'}),
    repository_branch: input('repository_branch', {maxlength: 1024, placeholder: 'main'}),
    repository_path: input('repository_path', {maxlength: 1024}),
    repository_connector: input('repository_connector', {maxlength: 1024}),
  };
  linkIdentifier(name, ident);
  const status = formStatus();
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Create workspace');
  const form = h('form', {class: 'new-form', novalidate: true},
    h('div', {class: 'form-grid'},
      field('Name', name),
      field('Identifier', ident, {hint: 'Letters, digits, _ and -; it cannot change later.'}),
      field('Provisioner', provisioner),
      field('Provisioner version', version, {hint: 'Empty means latest.'}),
      field('Provider connector', connector, {hint: 'Optional: a connector reference.'}),
      field('Repository', repo.repository, {hint: 'Optional.'}),
      field('Branch', repo.repository_branch),
      field('Path in the repository', repo.repository_path),
      field('Repository connector', repo.repository_connector)),
    field('Description', description),
    status, h('div', {class: 'form-actions'}, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, status);
    const body = {identifier: ident.value.trim(), name: name.value.trim(),
                  provisioner: provisioner.value, provider_connector: connector.value.trim(),
                  description: description.value,
                  environment_variables: {}, terraform_variables: {}};
    if (version.value.trim()) body.provisioner_version = version.value.trim();
    for (const [k, el] of Object.entries(repo)) if (el.value.trim()) body[k] = el.value.trim();
    if (!body.name) setFieldError(form, 'name', 'Enter a name.');
    if (!WORKSPACE_ID.test(body.identifier) || body.identifier.length > 128) {
      setFieldError(form, 'identifier',
                    'Start with a letter or _, then letters, digits, _ or - (at most 128).');
    }
    const invalid = form.querySelector('.has-error input');
    if (invalid) { invalid.focus(); return; }
    submit.disabled = true;
    try {
      await api.post(listPath, body);
      notify(`Created workspace ${body.name}.`);
      navigate(wsUrl(body.identifier));
    } catch (err) {
      showFormError(form, status, err, {conflictField: 'identifier'});
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
