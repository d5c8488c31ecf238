// The Resources & outputs tab (.../resources?q=&type=&page=): the resources, data sources and
// outputs of the newest state, searched by the server (POST .../resources/search), with
// sensitive attributes and outputs masked.
import {api} from '../api.js';
import {emptyState, field, jsonBlock, pager, table, withData} from '../components.js';
import {h, mount} from '../dom.js';
import {setQuery} from '../router.js';
import {maskValue, outputText, secretValues, sensitivePaths} from './state.js';

const PAGE_SIZE = 30;

export async function render(container, ctx) {
  const filters = {q: ctx.query.get('q') || '', type: ctx.query.get('type') || '',
                   page: Math.max(1, Number(ctx.query.get('page')) || 1)};
  const search = h('input', {id: 'resources-search', name: 'q', type: 'search', value: filters.q,
                             autocomplete: 'off', placeholder: 'address, type or resource ID'});
  const type = h('select', {id: 'resources-type', name: 'type'}, h('option', {value: ''}, 'All types'));
  const form = h('form', {class: 'resource-filters', id: 'resources-filter', role: 'search'},
    field('Search resources', search), field('Type', type),
    h('div', {class: 'form-actions'}, h('button', {type: 'submit'}, 'Search')));
  const results = h('div', {id: 'resources-results'});
  mount(container, form, results);

  const load = () => {
    setQuery({q: filters.q, type: filters.type, page: filters.page > 1 ? filters.page : ''});
    return withData(results, () => fetchPage(ctx, filters), (data) => build(data, filters, load));
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    Object.assign(filters, {q: search.value.trim(), type: type.value, page: 1});
    load();
  });
  api.get(`${ctx.wsPath}/resource-types`).then(({data}) => {
    for (const t of Array.isArray(data) ? data : []) {
      type.appendChild(h('option', {value: t, selected: t === filters.type}, t));
    }
  }).catch(() => { /* the filter still works by search text */ });
  await load();
}

async function fetchPage(ctx, {q, type, page}) {
  if (!q && !type) {
    return (await api.get(`${ctx.wsPath}/resources`, {limit: PAGE_SIZE, page})).data;
  }
  const selector = {};
  if (q) selector.search_text = q;
  if (type) selector.resource_type = type;
  return (await api.post(`${ctx.wsPath}/resources/search`,
                         {selectors: [selector], limit: PAGE_SIZE, page})).data;
}

function address(r) {
  return r.path_id || [r.module, r.type, r.name].filter(Boolean).join('.');
}

// The address, with the masked attributes built when opened.
function addressCell(r, secrets) {
  const details = h('details', {class: 'instance'}, h('summary', null, h('code', null, address(r))));
  details.addEventListener('toggle', () => {
    if (details.open && details.children.length === 1) {
      details.appendChild(jsonBlock(maskValue(r.attributes || {}, sensitivePaths(r.sensitive_attributes), secrets)));
    }
  });
  return details;
}

function resourceTable(rows, secrets, caption) {
  return table([
    {label: 'Address', cell: (r) => addressCell(r, secrets)},
    {label: 'Type', cell: (r) => r.type},
    {label: 'Provider', cell: (r) => r.provider},
    {label: 'ID', cell: (r) => r.resource_id ? h('code', null, maskValue(r.resource_id, [], secrets)) : '—'},
    {label: 'Drift', cell: (r) => r.drift_status || '—'},
  ], rows, {caption, rowProps: (r) => ({dataset: {address: address(r)}})});
}

function build(data, filters, reload) {
  const resources = data.resources || [], dataSources = data.data_sources || [];
  const outputs = data.outputs || [];
  const total = data.total_resources ?? resources.length;
  const secrets = secretValues(outputs, [...resources, ...dataSources].map((r) => (
    {attributes: r.attributes || {}, sensitive: sensitivePaths(r.sensitive_attributes)})));
  const filtered = Boolean(filters.q || filters.type);
  const pageCount = Math.ceil(total / PAGE_SIZE);
  const nothing = !total && !dataSources.length && !outputs.length;
  if (nothing && !filtered) return emptyState('The newest state has no resources or outputs (or there is no state yet).');
  return [
    h('h2', null, `Resources (${total})`),
    resources.length ? resourceTable(resources, secrets, filtered ? `${total} matching` : null)
                     : emptyState(filtered ? 'No resource matches this search.' : 'No resources.'),
    pageCount > 1 ? pager({page: filters.page, pageCount, total, first: 1,
                           onPage: (p) => { filters.page = p; reload(); }}) : null,
    dataSources.length ? [h('h2', null, `Data sources (${dataSources.length})`),
                          resourceTable(dataSources, secrets)] : null,
    h('h2', {id: 'outputs-title'}, `Outputs (${outputs.length})`),
    outputs.length
        ? table([{label: 'Name', cell: (o) => h('code', null, o.name)},
                 {label: 'Value', cell: (o) => outputText(o, secrets)}], outputs,
                {rowProps: (o) => ({dataset: {output: o.name}})})
        : emptyState('No outputs.'),
  ];
}
