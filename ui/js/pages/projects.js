// /ui/orgs/:org: an organization's projects (search, pages) and a form to create one.
import {api, paths} from '../api.js';
import {emptyState} from '../components.js';
import {h, mount, timeAgo} from '../dom.js';
import {navigate} from '../router.js';
import {createPanel, identityForm, nameCell, searchableList, totalOf} from '../forms.js';

const e = encodeURIComponent;

export async function render(main, params, query, ctx) {
  const {org} = params;
  const orgUrl = `/ui/orgs/${e(org)}`;
  ctx.setTitle(org);
  ctx.setCrumbs([{label: 'Organizations', href: '/ui'}, {label: org, href: orgUrl}]);
  const {data} = await api.get(paths.org(org));
  const info = data.org || {};
  ctx.setTitle(info.name || org);

  const form = identityForm({
    kind: 'project', label: 'project',
    post: (body) => api.post(paths.projects(org), body),
    done: (id) => navigate(`${orgUrl}/projects/${e(id)}`),
  });
  const panel = createPanel('New project', form);
  const columns = [
    {label: 'Name', cell: (r) => nameCell(r.project.name, r.project.identifier,
                                          `${orgUrl}/projects/${e(r.project.identifier)}`)},
    {label: 'Description', cell: (r) => r.project.description || '—'},
    {label: 'Updated', cell: (r) => timeAgo(r.updated)},
  ];
  mount(main,
    h('div', {class: 'page-head'},
      h('h1', null, info.name || org),
      info.name && info.name !== org ? h('span', {class: 'ident mono'}, org) : null),
    info.description ? h('p', {class: 'muted'}, info.description) : null,
    h('h2', null, 'Projects'),
    panel,
    searchableList({
      query, noun: 'projects', columns,
      load: async ({q, page, limit, signal}) => {
        const reply = await api.get(paths.projects(org),
                                    {searchTerm: q, page: page - 1, limit, sort: 'name'}, {signal});
        return {rows: reply.data, total: totalOf(reply)};
      },
      empty: () => {
        panel.open = true;
        return emptyState('This organization has no projects yet. Create the first one above.');
      },
    }));
}
