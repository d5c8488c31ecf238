// The workspace page: a header and one tab, each tab with its own URL
// (/ui/orgs/:org/projects/:project/workspaces/:ws/:tab/:sub/:item).
import {api, paths} from '../api.js';
import {badge, errorState, loadingState, statusBadge, tabBar} from '../components.js';
import {h, mount, timeAgo} from '../dom.js';

export const TABS = [
  {id: 'settings', label: 'Settings'},
  {id: 'variables', label: 'Variables'},
  {id: 'state', label: 'State'},
  {id: 'lock', label: 'Lock'},
  {id: 'resources', label: 'Resources & outputs'},
  {id: 'runs', label: 'Runs'},
  {id: 'policies', label: 'Policies'},
  {id: 'cost', label: 'Cost'},
];

const e = encodeURIComponent;

export async function render(main, params, query, ctx) {
  const {org, project, ws} = params;
  const tab = params.tab || 'settings';
  const base = `/ui/orgs/${e(org)}/projects/${e(project)}/workspaces/${e(ws)}`;
  ctx.setCrumbs([
    {label: 'Organizations', href: '/ui'},
    {label: org, href: `/ui/orgs/${e(org)}`},
    {label: project, href: `/ui/orgs/${e(org)}/projects/${e(project)}`},
    {label: ws, href: base},
  ]);
  ctx.setTitle(`${ws} · ${TABS.find((t) => t.id === tab)?.label || tab}`);
  if (!TABS.some((t) => t.id === tab)) {
    mount(main, errorState(new Error(`There is no tab "${tab}" on a workspace.`)));
    return;
  }
  const wsPath = paths.workspace(org, project, ws);
  const {data: workspace, etag} = await api.get(wsPath);

  const header = h('div', {class: 'page-head'},
    h('h1', null, workspace.name || ws),
    h('div', {class: 'page-meta'},
      statusBadge(workspace.status),
      badge(`${workspace.provisioner || '?'} ${workspace.provisioner_version || ''}`.trim(), 'neutral'),
      workspace.backend_locked ? badge('locked', 'warn') : null,
      h('span', null, 'updated ', timeAgo(workspace.updated))));
  const body = h('section', {class: 'tab-body', 'aria-live': 'polite'}, loadingState());
  mount(main, header, tabBar(TABS.map((t) => ({...t, href: `${base}/${t.id}`})), tab), body);

  const tabCtx = {
    org, project, ws, workspace, etag, query, base, wsPath,
    sub: params.sub, item: params.item,
    // Reloads the workspace and re-renders the page (after saves, rollbacks, unlocks).
    reload: () => render(main, params, query, ctx),
  };
  const module = await import(`../tabs/${tab}.js`);
  await module.render(body, tabCtx);
}
