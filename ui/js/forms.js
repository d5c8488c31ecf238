// Form and list helpers shared by the pages and tabs: field errors from API answers, create
// forms, and searchable, paged lists whose state lives in the URL.
import {emptyState, field, notify, pager, setFieldError, table, withData} from './components.js';
import {h, mount} from './dom.js';
import {setQuery} from './router.js';

// The total of a list reply (x-total-items, or the NG spelling X-Total-Elements).
export function totalOf(reply) {
  const v = reply.headers.get('x-total-items') ?? reply.headers.get('X-Total-Elements');
  return v === null || v === '' ? null : Number(v);
}

// A positive integer from the query string, or def.
export function intParam(query, name, def) {
  const n = Number.parseInt(query.get(name), 10);
  return Number.isFinite(n) && n >= 1 ? n : def;
}

// The form-level message slot of a form (errors that name no field of it).
export function formStatus() {
  return h('div', {class: 'form-status', role: 'alert'});
}

// Server errors read "field: why" (`org.identifier: must match …`,
// `provider_connectors[0].type: must be one of …`).
const FIELD_MESSAGE = /^([A-Za-z_][\w$-]*(?:\.[^:.[\]]+|\[\d+\])*): ([\s\S]+)$/;

// Shows an API error on a form: a 400 next to the field it names, or the nearest enclosing
// one that the form has (provider_connectors[0].type, then provider_connectors[0], then
// provider_connectors); anything else in `status`. prefix: the part of the server's field
// names the form leaves out ("org." for {"org": {...}} bodies). conflictField: where a 409
// goes (an identifier that is taken).
export function showFormError(form, status, err, {prefix = '', conflictField} = {}) {
  if (err && err.status === 409 && conflictField && setFieldError(form, conflictField, err.message)) {
    focusField(form, conflictField);
    return;
  }
  // 404 too: an unknown reference is "variable_sets: variable set 'x' does not exist…".
  const m = err && [400, 404, 422].includes(err.status) ? FIELD_MESSAGE.exec(err.message) : null;
  if (m) {
    const full = m[1].startsWith(prefix) ? m[1].slice(prefix.length) : m[1];
    for (let name = full; name;) {
      // On an enclosing field, the rest of the path says which part: "connector_ref: …".
      const rest = full.slice(name.length).replace(/^\./, '');
      if (setFieldError(form, name, rest ? `${rest}: ${m[2]}` : m[2])) {
        focusField(form, name);
        return;
      }
      const parent = name.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
      if (parent === name) break;
      name = parent;
    }
  }
  mount(status, h('p', {class: 'field-error'}, err && err.message ? err.message : String(err)));
}

function focusField(form, name) {
  form.querySelector(`[data-field="${CSS.escape(name)}"]`)
      ?.querySelector('input, select, textarea, button')?.focus();
}

// Clears the messages of showFormError (fields, editor rows and the status slot).
export function clearFormErrors(form, status) {
  form.querySelectorAll('.has-error').forEach((el) => el.classList.remove('has-error'));
  form.querySelectorAll('.field-error').forEach((el) => { el.textContent = ''; });
  if (status) mount(status);
}

// A suggested identifier for a name ("Web App" -> "Web_App").
export function identifierFrom(name) {
  const id = name.trim().replace(/[^0-9A-Za-z_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 128);
  return /^[0-9]/.test(id) ? `_${id}`.slice(0, 128) : id;
}

// The identifier input follows the name until the user edits it.
export function linkIdentifier(nameInput, idInput) {
  let touched = idInput.value !== '';
  idInput.addEventListener('input', () => { touched = idInput.value !== ''; });
  nameInput.addEventListener('input', () => {
    if (!touched) idInput.value = identifierFrom(nameInput.value);
  });
}

// A collapsible "New …" panel around a create form.
export function createPanel(summary, form, open = false) {
  return h('details', {class: 'new-panel', open}, h('summary', null, summary), form);
}

// The results of one list page: the table and the pager, or an empty state.
export function listResults({rows, total, page, limit, columns, caption, empty, onPage}) {
  if (!rows.length) {
    if (page > 1 && total) {
      return emptyState(`Page ${page} is past the last page.`,
                        h('button', {type: 'button', onclick: () => onPage(1)}, 'Go to the first page'));
    }
    return empty();
  }
  const count = total ?? rows.length;
  return [table(columns, rows, {caption}),
          pager({page, pageCount: Math.ceil(count / limit), total: count, first: 1, onPage})];
}

// A searchable, paged list whose search term and page live in the URL (?q=…&page=…, pages
// counted from 1). load({q, page, limit, signal}) resolves {rows, total}.
export function searchableList({query, noun, load, columns, empty, limit = 30}) {
  let q = query.get('q') || '';
  let page = intParam(query, 'page', 1);
  let controller = null;
  let timer = null;
  const results = h('div', {class: 'list-results', tabindex: '-1'});
  const input = h('input', {id: 'list-search', name: 'q', type: 'search', value: q,
                            autocomplete: 'off', spellcheck: 'false'});
  const show = async (focusResults = false) => {
    setQuery({q, page: page > 1 ? page : null});
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    await withData(results, () => load({q, page, limit, signal}), ({rows, total}) =>
      listResults({rows, total, page, limit, columns,
                   caption: q ? `${total ?? rows.length} ${noun} matching “${q}”` : null,
                   empty: () => (q ? emptyState(`No ${noun} match “${q}”.`) : empty()),
                   onPage: (p) => { page = p; show(true); }}));
    if (focusResults && results.isConnected) results.focus();
  };
  const search = () => {
    clearTimeout(timer);
    if (input.value.trim() === q) return;
    q = input.value.trim();
    page = 1;
    show();
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { if (input.isConnected) search(); }, 300);
  });
  const form = h('form', {class: 'list-filters', role: 'search'},
                 field(`Search ${noun}`, input), h('button', {type: 'submit'}, 'Search'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); search(); });
  show();
  return [form, results];
}

// The create form of orgs and projects: identifier, name, description, sent as
// {[kind]: {...}}; done(identifier) after a 201.
export function identityForm({kind, label, post, done}) {
  const name = h('input', {id: `new-${kind}-name`, name: 'name', required: true, maxlength: 128,
                           autocomplete: 'off'});
  const ident = h('input', {id: `new-${kind}-identifier`, name: 'identifier', required: true,
                            maxlength: 128, autocomplete: 'off', spellcheck: 'false'});
  const description = h('textarea', {id: `new-${kind}-description`, name: 'description', rows: 2,
                                     class: 'short'});
  linkIdentifier(name, ident);
  const status = formStatus();
  const submit = h('button', {type: 'submit', class: 'primary'}, `Create ${label}`);
  const form = h('form', {class: 'new-form', novalidate: true},
    h('div', {class: 'form-grid'},
      field('Name', name),
      field('Identifier', ident, {hint: 'Letters, digits, _ and $; it cannot change later.'})),
    field('Description', description),
    status, h('div', {class: 'form-actions'}, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, status);
    const body = {identifier: ident.value.trim(), name: name.value.trim(),
                  description: description.value};
    if (!body.name) setFieldError(form, 'name', 'Enter a name.');
    if (!/^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$/.test(body.identifier)) {
      setFieldError(form, 'identifier',
                    'Start with a letter or _, then letters, digits, _ or $ (at most 128).');
    }
    const invalid = form.querySelector('.has-error input, .has-error textarea');
    if (invalid) { invalid.focus(); return; }
    submit.disabled = true;
    try {
      await post({[kind]: body});
      notify(`Created ${label} ${body.name}.`);
      done(body.identifier);
    } catch (err) {
      showFormError(form, status, err, {prefix: `${kind}.`, conflictField: 'identifier'});
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// A name cell: the name as a link, and the identifier under it when it differs.
export function nameCell(name, identifier, href) {
  return [h('a', {href, class: 'row-link'}, name || identifier),
          name && name !== identifier ? h('div', {class: 'ident mono'}, identifier) : null];
}
