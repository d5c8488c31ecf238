// The console's entry: the layout, the route table, and sign-in/sign-out.
import {setUnauthorizedHandler} from './api.js';
import {errorState, loadingState} from './components.js';
import {h, mount} from './dom.js';
import {match, navigate, route, setRouteHandler} from './router.js';
import {accountOf, clearToken, getToken} from './session.js';

// Pages are loaded when first shown, so the first load carries only what it needs.
const page = (name) => async (...args) => (await import(`./pages/${name}.js`)).render(...args);

route('/ui/signin', page('signin'));
route('/ui', page('orgs'));
route('/ui/orgs/:org', page('projects'));
route('/ui/orgs/:org/projects/:project', page('workspaces'));
route('/ui/orgs/:org/projects/:project/workspaces/:ws/:tab?/:sub?/:item?', page('workspace'));
route('/ui/policies', page('policies'));
route('/ui/policies/:policy', page('policy'));
route('/ui/policysets/:set', page('policyset'));

const root = document.getElementById('app');
let renderSeq = 0;

function layout() {
  const token = getToken();
  const crumbs = h('ol', {class: 'crumbs'});
  const main = h('main', {id: 'main', tabindex: '-1'});
  const header = h('header', {class: 'topbar'},
    h('a', {class: 'brand', href: '/ui'}, 'Statehouse'),
    h('nav', {'aria-label': 'Breadcrumb'}, crumbs),
    token ? h('div', {class: 'account'},
      h('a', {href: '/ui/policies'}, 'Policies'),
      h('span', {class: 'account-name', title: 'Account'}, accountOf(token) || ''),
      h('button', {type: 'button', id: 'sign-out', onclick: signOut}, 'Sign out')) : null);
  // Notices outlive page changes: a notice given just before navigating is still shown.
  const notices = document.getElementById('notices') ||
                  h('div', {id: 'notices', class: 'notices', 'aria-live': 'polite'});
  mount(root, header, notices, main);
  return {main, crumbs};
}

// ctx.setCrumbs([{label, href}]) and ctx.setTitle(text) for the page being shown.
function pageContext(crumbs) {
  return {
    setCrumbs(items) {
      mount(crumbs, items.map((c, i) => h('li', null,
        i === items.length - 1 || !c.href ? h('span', {'aria-current': 'page'}, c.label)
                                          : h('a', {href: c.href}, c.label))));
    },
    setTitle(title) {
      document.title = title ? `${title} · Statehouse` : 'Statehouse';
    },
  };
}

async function render() {
  const seq = ++renderSeq;
  const path = location.pathname.replace(/\/+$/, '') || '/ui';
  if (!getToken() && path !== '/ui/signin') {
    const next = location.pathname + location.search;
    navigate(`/ui/signin?next=${encodeURIComponent(next)}`, {replace: true});
    return;
  }
  const {main, crumbs} = layout();
  const ctx = pageContext(crumbs);
  const found = match(path);
  if (!found) {
    ctx.setTitle('Not found');
    mount(main, h('h1', null, 'Page not found'), h('p', null, 'No page lives at ', h('code', null, path), '.'),
          h('p', null, h('a', {href: '/ui'}, 'Back to organizations')));
    return;
  }
  mount(main, loadingState());
  try {
    await found.render(main, found.params, new URLSearchParams(location.search), ctx);
  } catch (err) {
    if (seq === renderSeq) mount(main, errorState(err, render));
  }
  if (seq === renderSeq && document.activeElement === document.body) main.focus({preventScroll: true});
}

function signOut() {
  clearToken();
  navigate('/ui/signin', {replace: true});
}

setUnauthorizedHandler(() => {
  if (location.pathname.startsWith('/ui/signin')) return;  // a wrong token while signing in
  const next = location.pathname + location.search;
  navigate(`/ui/signin?expired=1&next=${encodeURIComponent(next)}`, {replace: true});
});
setRouteHandler(render);
render();
