// /ui: the account's organizations (search, pages) and a form to create one.
import {api} from '../api.js';
import {emptyState} from '../components.js';
import {h, mount, timeAgo} from '../dom.js';
import {createPanel, identityForm, nameCell, searchableList, totalOf} from '../forms.js';
import {navigate} from '../router.js';

const e = encodeURIComponent;

export async function render(main, params, query, ctx) {
  ctx.setTitle('Organizations');
  ctx.setCrumbs([{label: 'Organizations'}]);
  const form = identityForm({
    kind: 'org', label: 'organization',
    post: (body) => api.post('/v1/orgs', body),
    done: (id) => navigate(`/ui/orgs/${e(id)}`),
  });
  const panel = createPanel('New organization', form);
  const columns = [
    {label: 'Name', cell: (r) => nameCell(r.org.name, r.org.identifier, `/ui/orgs/${e(r.org.identifier)}`)},
    {label: 'Description', cell: (r) => r.org.description || '—'},
    {label: 'Updated', cell: (r) => timeAgo(r.updated)},
  ];
  mount(main,
    h('div', {class: 'page-head'}, h('h1', null, 'Organizations')),
    panel,
    searchableList({
      query, noun: 'organizations', columns,
      load: async ({q, page, limit, signal}) => {
        const reply = await api.get('/v1/orgs', {searchTerm: q, page: page - 1, limit, sort: 'name'},
                                    {signal});
        return {rows: reply.data, total: totalOf(reply)};
      },
      empty: () => {
        panel.open = true;
        return emptyState('There are no organizations yet. Create the first one above.');
      },
    }));
}
