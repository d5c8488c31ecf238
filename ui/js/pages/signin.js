// Sign in with an API token: checked against the server, then kept in session storage.
import {ApiError, api} from '../api.js';
import {field} from '../components.js';
import {h, mount} from '../dom.js';
import {navigate} from '../router.js';
import {accountOf, clearToken, setToken} from '../session.js';

export async function render(main, params, query, ctx) {
  ctx.setTitle('Sign in');
  ctx.setCrumbs([]);
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off',
                            required: true, spellcheck: 'false', placeholder: 'pat.account.id.secret'});
  const status = h('p', {class: 'field-error', role: 'alert', id: 'signin-error'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {class: 'signin', novalidate: true},
    h('h1', null, 'Sign in to Statehouse'),
    query.get('expired') ? h('p', {class: 'notice notice-warn', role: 'status'},
                             'Your session ended. Sign in again.') : null,
    field('API token', input, {hint: 'An API key token (x-api-key). It is kept in this tab only.'}),
    status, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    status.textContent = '';
    if (!accountOf(token)) {
      status.textContent = 'That is not a Statehouse token (pat.<account>.<id>.<secret>).';
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    setToken(token);
    try {
      await api.get('/v1/orgs', {limit: 1});
      const next = query.get('next');
      navigate(next && next.startsWith('/ui') && !next.startsWith('/ui/signin') ? next : '/ui',
               {replace: true});
    } catch (err) {
      clearToken();
      status.textContent = err instanceof ApiError && err.status === 401
          ? 'The server does not accept this token.' : err.message;
      submit.disabled = false;
      submit.textContent = 'Sign in';
      input.focus();
    }
  });
  mount(main, form);
  input.focus();
}
