// The Lock tab (.../lock): who holds the workspace's state lock, force-unlock (with the policy
// result the server returns, or its policy refusal) and a manual lock with a reason.
import {api} from '../api.js';
import {badge, confirmDialog, errorState, field, statusBadge} from '../components.js';
import {fmtTime, h, mount, timeAgo} from '../dom.js';
import {evaluationDetails} from './policies.js';

// The outcome of the last action, shown once after the page reloads (keyed by workspace).
let lastOutcome = null;

export async function render(container, ctx) {
  const outcome = lastOutcome && lastOutcome.wsPath === ctx.wsPath ? lastOutcome.node : null;
  lastOutcome = null;
  const result = h('div', {id: 'lock-result', class: 'lock-result', 'aria-live': 'polite'}, outcome);
  const lock = ctx.workspace.backend_locked ? ctx.workspace.lock : null;
  mount(container, h('div', {class: 'lock-tab'},
    h('div', {class: 'toolbar'},
      h('h2', null, 'State lock'),
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', id: 'lock-refresh', onclick: ctx.reload}, 'Refresh')),
    lock ? holder(ctx, lock, result) : unlocked(ctx, result),
    result));
}

// Shows node after the page reloads with the workspace's new lock state.
function done(ctx, node) {
  lastOutcome = {wsPath: ctx.wsPath, node};
  return ctx.reload();
}

function holder(ctx, lock, result) {
  const info = lock.info || {};
  const who = info.who || lock.locked_by_display_name || lock.locked_by_principal_id || 'someone';
  const operation = lock.manual ? 'manual' : info.operation || '—';
  const reason = lock.manual ? lock.reason : info.info;
  const since = lock.created_at ?? info.created;
  const row = (label, value, id) => [h('dt', null, label), h('dd', {id}, value)];
  return h('section', {class: 'card lock-card', id: 'lock-holder', 'aria-labelledby': 'lock-status'},
    h('h3', {id: 'lock-status'}, badge('locked', 'warn'), ' Locked by ', h('span', {id: 'lock-who'}, who)),
    h('dl', {class: 'props'},
      row('Held by', who),
      lock.locked_by_display_name && lock.locked_by_display_name !== who
          ? row('Token', lock.locked_by_display_name) : null,
      row('Operation', operation, 'lock-operation'),
      row('Since', [fmtTime(since), ' (', timeAgo(since), ')'], 'lock-since'),
      row('Lock ID', h('code', null, lock.id || info.id || '—'), 'lock-id'),
      reason ? row(lock.manual ? 'Reason' : 'Info', reason, 'lock-reason-shown') : null,
      info.path ? row('Path', info.path) : null,
      info.version ? row('Terraform', info.version) : null),
    h('div', {class: 'form-actions'},
      h('button', {type: 'button', id: 'force-unlock', class: 'danger',
                   onclick: () => forceUnlock(ctx, lock, who, operation, result)}, 'Force unlock…')));
}

async function forceUnlock(ctx, lock, who, operation, result) {
  const ok = await confirmDialog({
    title: `Force-unlock ${ctx.ws}?`,
    message: `This releases lock ${lock.id} held by ${who} (${operation}). If that operation is ` +
             'still running, its state write is refused and its changes may be lost.',
    confirmLabel: 'Force unlock', danger: true, typed: ctx.ws});
  if (!ok) return;
  try {
    const {data} = await api.post(`${ctx.wsPath}/actions/force-unlock`);
    await done(ctx, h('div', {class: 'card', role: 'status'},
      h('p', null, data.unlocked ? ['Unlocked: lock ', h('code', null, data.lock_id || lock.id), ' was released.']
                                 : 'The workspace was not locked any more.'),
      policyEvaluation(data.policy_evaluation, ctx)));
  } catch (err) {
    const evaluation = err.body && err.body.policy_evaluation;
    mount(result, err.status === 403 && evaluation
        ? h('div', {class: 'state-error policy-refusal', role: 'alert', id: 'lock-refused'},
            h('p', null, h('strong', null, 'Force-unlock refused by policy.')),
            policyEvaluation(evaluation, ctx))
        : errorState(err));
  }
}

function unlocked(ctx, result) {
  const reason = h('input', {id: 'lock-reason', name: 'reason', type: 'text', maxlength: 500,
                             autocomplete: 'off', placeholder: 'e.g. maintenance window'});
  const submit = h('button', {type: 'submit', id: 'lock-submit'}, 'Lock workspace');
  const form = h('form', {class: 'lock-form', id: 'lock-form'},
    field('Reason', reason, {hint: 'Runs and Terraform cannot write the state until it is unlocked.'}),
    h('div', {class: 'form-actions'}, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const {data} = await api.post(`${ctx.wsPath}/actions/lock`, {reason: reason.value.trim()});
      await done(ctx, h('p', {class: 'notice notice-ok', role: 'status'},
                        'Locked: lock ', h('code', null, data.id), '.'));
    } catch (err) {
      submit.disabled = false;
      mount(result, errorState(err));
    }
  });
  return h('section', {class: 'card lock-card', id: 'lock-holder', 'aria-labelledby': 'lock-status'},
    h('h3', {id: 'lock-status'}, badge('unlocked', 'ok'), ' Unlocked'),
    h('p', {class: 'muted'}, 'Nobody holds the state lock. Lock the workspace by hand to stop runs and ' +
                             'Terraform from changing its state:'),
    form);
}

// A policy evaluation (IaCMEvaluation): its status, then each policy set's policies and
// messages (the Policies tab's view of an evaluation).
function policyEvaluation(evaluation, ctx) {
  if (!evaluation) return null;
  return h('div', {class: 'policy-evaluation', id: 'lock-policy-evaluation'},
    h('p', null, h('strong', null, 'Policy evaluation: '), statusBadge(evaluation.status)),
    evaluationDetails(evaluation, {base: ctx.base}));
}
