// The demo page's behaviour: boots the graphgate client, signs in and out, and drives the profile, inbox, mail, To Do and invitation cards.
// The package is the first import: its entry starts loading the wasm module as soon as it runs.
import { createClientFromProxy, inSignInPopup } from './graphgate/index.js';
import { lang, savedLang, setLang, t, translate } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** The message fields the inbox asks Graph for. */
const INBOX_SELECT = ['subject', 'from', 'receivedDateTime', 'bodyPreview', 'isRead'];
const INBOX_PAGE = 5;
/** Statuses for which there is nobody left to invite. */
const NO_INVITE_NEEDED = ['member', 'guest-accepted'];

let client = null;
/** The client being made (one for the page; a failed attempt is forgotten, so the next one retries). */
let clientMade = null;
/** Bumped at every sign-in and sign-out, so an answer that arrives late for an old session is dropped. */
let session = 0;

/** Everything the page shows; the render functions draw it, so switching language redraws it all. */
const view = {
  phase: 'loading', // loading | signed-in | signed-out | popup | redirecting
  account: null,
  profile: null,
  inbox: { state: 'idle', messages: [], nextLink: null }, // idle | loading | more | ready | failed
  todo: { state: 'idle', lists: [], selected: null, tasksState: 'idle', tasks: [] },
  compose: null, // {result: 'sending' | 'sent' | 'error' | 'missing', to}
  invite: null, // {phase: 'checking' | 'inviting' | 'done' | 'missing', status, redeemUrl, noNeed}
  error: null,
  busy: false,
};

// ---------------------------------------------------------------------------------------------
// Rendering

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function formatDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(lang() === 'zh' ? 'zh-CN' : 'en', { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

const initials = (name) =>
  String(name ?? '?')
    .split(/[\s@.]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join('') || '?';

/** Puts `text` in `node`, showing the catalogue's `backticked` names as inline code. */
function withCode(node, text) {
  const parts = String(text ?? '').split('`');
  if (parts.length % 2 === 0) {
    node.textContent = text; // unbalanced backticks: plain text
    return;
  }
  node.replaceChildren(...parts.map((part, i) => (i % 2 ? el('code', null, part) : document.createTextNode(part))));
}

/** Only http(s) links are put in an href. */
function safeUrl(url) {
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

function renderShell() {
  const signedIn = view.phase === 'signed-in';
  $('signed-out').hidden = view.phase !== 'signed-out';
  $('signed-in').hidden = !signedIn;
  $('popup-note').hidden = view.phase !== 'popup';
  $('signout').hidden = !signedIn;
  for (const id of ['signin-redirect', 'signin-popup', 'signout']) $(id).disabled = view.busy;

  const account = $('account');
  account.hidden = !signedIn;
  account.textContent = signedIn ? view.account.username : '';
  account.title = signedIn ? (view.account.name ?? view.account.username) : '';

  const status = $('status');
  if (view.phase === 'signed-in') status.textContent = t('state.signedIn', { name: view.account.username });
  else if (view.phase === 'signed-out') status.textContent = t('state.signedOut');
  else if (view.phase === 'popup') status.textContent = t('state.finishing');
  else if (view.phase === 'redirecting') status.textContent = t('state.redirecting');
  else status.textContent = t('state.loading');

  const langButton = $('lang');
  langButton.dataset.lang = lang();
}

// A card's note: `text`, or `prefix` and the code of error `e` as a button that shows it (with
// its explanation and fix) in the error panel again, after a later error has taken its place.
function note(node, text, prefix, e) {
  if (!e) {
    node.textContent = text;
    return;
  }
  const again = el('button', 'link-btn', e.code ?? 'unknown_error');
  again.type = 'button';
  again.dataset.code = again.textContent;
  again.addEventListener('click', () => showError(e));
  node.replaceChildren(`${prefix} `, again);
}

// The text in the page's language, else the other one.
function localized(en, zh) {
  return lang() === 'zh' ? (zh ?? en) : (en ?? zh);
}

function renderError() {
  const panel = $('error');
  const e = view.error;
  panel.hidden = !e;
  if (!e) {
    panel.removeAttribute('data-code');
    return;
  }
  panel.dataset.code = e.code;
  $('error-code').textContent = e.code;
  // Entra's descriptions end with trace and correlation lines: those go under "Technical details".
  const [first, ...rest] = String(e.message ?? '').split(/\r?\n/);
  withCode($('error-message'), first);
  $('error-details').hidden = !rest.join('').trim();
  $('error-details-text').textContent = rest.join('\n').trim();
  const why = localized(e.explanation, e.explanationZh);
  $('error-why').hidden = !why;
  withCode($('error-why-text'), why ?? '');
  const hint = localized(e.hint, e.hintZh);
  withCode($('error-hint'), hint || t('error.noHint'));
  $('error-correlation').hidden = !e.correlationId;
  $('error-correlation-id').textContent = e.correlationId ?? '';
  const lookup = e.lookupUrl ? safeUrl(e.lookupUrl) : null;
  $('error-lookup').hidden = !lookup;
  $('error-lookup-link').href = lookup ?? '#';
  $('error-signin').hidden = !e.interactionRequired;
}

function renderProfile() {
  const account = view.account;
  if (!account) return;
  const p = view.profile ?? {};
  const name = p.displayName ?? account.name ?? account.username;
  $('profile-avatar').textContent = initials(name);
  $('profile-name').textContent = name;
  $('profile-upn').textContent = p.userPrincipalName ?? account.username;
  $('profile-mail').textContent = p.mail ?? account.email ?? '—';
  const type = $('profile-type');
  type.textContent = t(`account.${account.accountType}`);
  type.dataset.type = account.accountType;
  type.className = `badge badge-${account.accountType}`;
  $('profile-tenant').textContent = account.tenantId ?? '—';
}

function renderInbox() {
  const { state, messages, nextLink } = view.inbox;
  const list = $('inbox');
  list.replaceChildren(
    ...messages.map((m) => {
      const item = el('li', m.isRead === false ? 'message unread' : 'message');
      item.dataset.id = m.id;
      const top = el('div', 'message-top');
      const from = m.from?.emailAddress;
      top.append(el('span', 'message-from', from?.name || from?.address || ''));
      const when = el('time', 'message-date', formatDate(m.receivedDateTime));
      if (m.receivedDateTime) when.dateTime = m.receivedDateTime;
      top.append(when);
      const subject = el('p', 'message-subject', m.subject || t('inbox.noSubject'));
      if (m.isRead === false) {
        const dot = el('span', 'unread-dot');
        dot.title = t('inbox.unread');
        dot.setAttribute('aria-label', t('inbox.unread'));
        subject.prepend(dot);
      }
      item.append(top, subject);
      if (m.bodyPreview) item.append(el('p', 'message-preview', m.bodyPreview));
      return item;
    }),
  );
  $('inbox-card').setAttribute('aria-busy', String(state === 'loading' || state === 'more'));
  let text = '';
  if (state === 'loading') text = t('inbox.loading');
  else if (state === 'ready' && messages.length === 0) text = t('inbox.empty');
  const failed = state === 'failed' && messages.length === 0;
  note($('inbox-note'), text, t('inbox.unavailable'), failed && view.inbox.error);
  $('inbox-count').textContent = messages.length ? t('inbox.count', { count: messages.length }) : '';
  const more = $('inbox-more');
  more.hidden = !nextLink;
  more.disabled = !nextLink || state === 'loading' || state === 'more';
  $('load-inbox').disabled = state === 'loading' || state === 'more';
}

function renderCompose() {
  const status = $('compose-status');
  const c = view.compose;
  $('compose-send').disabled = c?.result === 'sending';
  if (!c) {
    status.textContent = '';
    status.removeAttribute('data-result');
    return;
  }
  status.dataset.result = c.result;
  const text = { sending: t('compose.sending'), sent: t('compose.sent', { to: c.to }), missing: t('compose.missing') };
  note(status, (c.result === 'sent' ? '✓ ' : '') + (text[c.result] ?? ''), t('compose.failed'), c.error);
}

function renderTodo() {
  const { state, lists, selected, tasksState, tasks } = view.todo;
  $('todo-lists').replaceChildren(
    ...lists.map((l) => {
      const item = el('li');
      const button = el('button', 'todo-list', l.displayName);
      button.type = 'button';
      button.dataset.id = l.id;
      button.setAttribute('aria-pressed', String(l.id === selected));
      button.addEventListener('click', () => selectList(l.id));
      item.append(button);
      return item;
    }),
  );
  let listsNote = '';
  if (state === 'loading') listsNote = t('todo.loading');
  else if (state === 'ready' && lists.length === 0) listsNote = t('todo.noLists');
  note($('todo-lists-note'), listsNote, t('todo.unavailable'), state === 'failed' && view.todo.error);

  $('todo-tasks').replaceChildren(
    ...(selected ? tasks : []).map((task) => {
      const done = task.status === 'completed';
      const item = el('li', done ? 'todo-task done' : 'todo-task');
      item.dataset.id = task.id;
      item.dataset.status = task.status ?? '';
      const mark = el('span', 'task-mark', done ? '✓' : '');
      mark.setAttribute('aria-label', done ? t('todo.done') : t('todo.open'));
      item.append(mark, el('span', 'task-title', task.title));
      return item;
    }),
  );
  let tasksNote = '';
  if (!selected) tasksNote = lists.length ? t('todo.pick') : '';
  else if (tasksState === 'loading') tasksNote = t('todo.loading');
  else if (tasksState === 'ready' && tasks.length === 0) tasksNote = t('todo.noTasks');
  const tasksFailed = selected && tasksState === 'failed';
  note($('todo-tasks-note'), tasksNote, t('todo.unavailable'), tasksFailed && view.todo.tasksError);
  $('load-todo').disabled = state === 'loading';
}

function renderInvite() {
  const inv = view.invite;
  const status = $('invite-status');
  const busy = inv?.phase === 'checking' || inv?.phase === 'inviting';
  $('invite-check').disabled = busy;
  $('invite-send').disabled = busy;
  status.replaceChildren();
  if (inv?.status) status.dataset.status = inv.status;
  else status.removeAttribute('data-status');
  if (inv?.phase === 'missing') status.textContent = t('invite.missing');
  else if (inv?.phase === 'checking' && !inv.status) status.textContent = t('invite.checking');
  else if (inv?.status) {
    status.append(el('span', 'muted', `${t('invite.status')}: `));
    const badge = el('span', `badge badge-status status-${inv.status}`, t(`status.${inv.status}`));
    badge.title = inv.status;
    status.append(badge);
    if (inv.phase === 'inviting') status.append(el('span', 'muted', ` — ${t('invite.inviting')}`));
    else if (inv.noNeed) status.append(el('span', 'muted', ` — ${t('invite.noNeed')}`));
    else if (inv.phase === 'done' && inv.status === 'invited' && !inv.redeemUrl) status.append(el('span', 'muted', ` — ${t('invite.mailed')}`));
  }
  const url = inv?.redeemUrl ? safeUrl(inv.redeemUrl) : null;
  const link = $('invite-link');
  $('invite-result').hidden = !url;
  link.hidden = !url;
  if (url) link.href = url;
  else link.removeAttribute('href');
  $('invite-url').textContent = url ?? '';
}

function renderAll() {
  renderShell();
  renderError();
  renderProfile();
  renderInbox();
  renderCompose();
  renderTodo();
  renderInvite();
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Shows one error in the panel; graphgate's errors carry the catalogue's code and hints. */
function showError(e) {
  const known = e && typeof e === 'object' && typeof e.code === 'string';
  view.error = known
    ? e
    : { code: 'unexpected_error', message: String(e?.message ?? e), hint: null, hintZh: null, correlationId: null, interactionRequired: false };
  if (!known) console.error(e);
  renderError();
}

function clearError() {
  view.error = null;
  renderError();
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

function ensureClient() {
  clientMade ??= createClientFromProxy('').then(
    (made) => (client = made),
    (e) => {
      clientMade = null;
      throw e;
    },
  );
  return clientMade;
}

function setState(state) {
  document.body.dataset.state = state;
}

// Starts a new session of the page (answers of the previous one are dropped) with empty cards.
function resetView(phase, account) {
  session++;
  view.phase = phase;
  view.account = account;
  view.profile = null;
  view.inbox = { state: 'idle', messages: [], nextLink: null };
  view.todo = { state: 'idle', lists: [], selected: null, tasksState: 'idle', tasks: [] };
  view.compose = null;
  view.invite = null;
}

async function enterSignedIn(account) {
  resetView('signed-in', account);
  renderAll();
  const mine = session;
  await Promise.allSettled([loadProfile(), loadInbox(), loadTodo()]);
  if (mine === session) setState('signed-in');
}

function enterSignedOut() {
  resetView('signed-out', null);
  for (const id of ['compose-to', 'compose-subject', 'compose-body', 'invite-email']) $(id).value = '';
  renderAll();
  setState('signed-out');
}

async function signInRedirect() {
  clearError();
  view.busy = true; // until the page leaves: a second click would start a second sign-in
  renderShell();
  try {
    await (await ensureClient()).loginRedirect();
  } catch (e) {
    view.busy = false;
    renderShell();
    showError(e);
  }
}

async function signInPopup() {
  clearError();
  view.busy = true;
  renderShell();
  try {
    const c = await ensureClient();
    const result = await c.loginPopup();
    const account = result?.account ?? (await c.account());
    view.busy = false;
    if (account) await enterSignedIn(account);
  } catch (e) {
    showError(e);
  } finally {
    view.busy = false;
    renderShell();
  }
}

async function signOut() {
  clearError();
  view.busy = true;
  renderShell();
  try {
    await client.logout();
    view.busy = false;
    enterSignedOut();
    clearError(); // what failed while the session was ending belongs to it

  } catch (e) {
    // The proxy still holds the session: stay signed in and say why.
    view.busy = false;
    renderShell();
    showError(e);
  }
}

async function signInAgain() {
  const hint = view.account?.username;
  clearError();
  try {
    await (await ensureClient()).loginRedirect(hint ? { loginHint: hint } : {});
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Cards

async function loadProfile() {
  const mine = session;
  try {
    const me = await client.me();
    if (mine !== session) return;
    view.profile = me;
  } catch (e) {
    if (mine === session) showError(e);
  }
  renderProfile();
}

async function loadInbox() {
  const mine = session;
  view.inbox = { state: 'loading', messages: [], nextLink: null };
  renderInbox();
  try {
    const page = await client.listMessages({ folder: 'inbox', top: INBOX_PAGE, select: INBOX_SELECT });
    if (mine !== session) return;
    view.inbox = { state: 'ready', messages: page.value, nextLink: page.nextLink };
  } catch (e) {
    if (mine !== session) return;
    view.inbox.state = 'failed';
    view.inbox.error = e;
    showError(e);
  }
  renderInbox();
}

async function moreInbox() {
  const mine = session;
  const link = view.inbox.nextLink;
  if (!link || view.inbox.state === 'more') return;
  clearError();
  view.inbox.state = 'more';
  renderInbox();
  try {
    const page = await client.graph.get(link);
    if (mine !== session) return;
    const seen = new Set(view.inbox.messages.map((m) => m.id));
    const before = view.inbox.messages.length;
    view.inbox.messages.push(...(page?.value ?? []).filter((m) => !seen.has(m.id)));
    view.inbox.nextLink = page?.['@odata.nextLink'] ?? null;
    view.inbox.state = 'ready';
    renderInbox();
    $('inbox').children[before]?.scrollIntoView({ block: 'nearest' });
    return;
  } catch (e) {
    if (mine !== session) return;
    view.inbox.state = 'ready'; // the pages already shown stay, and More can be tried again
    showError(e);
  }
  renderInbox();
}

async function sendMail(event) {
  event.preventDefault();
  clearError();
  const to = $('compose-to')
    .value.split(/[\s,;]+/)
    .filter(Boolean);
  const subject = $('compose-subject').value.trim();
  if (!to.length || !subject) {
    view.compose = { result: 'missing' };
    renderCompose();
    return;
  }
  const mine = session;
  view.compose = { result: 'sending', to: to.join(', ') };
  renderCompose();
  try {
    await client.sendMail({ to, subject, text: $('compose-body').value });
    if (mine !== session) return;
    view.compose = { result: 'sent', to: to.join(', ') };
    $('compose-subject').value = '';
    $('compose-body').value = '';
  } catch (e) {
    if (mine !== session) return;
    view.compose = { result: 'error', error: e };
    showError(e);
  }
  renderCompose();
}

async function loadTodo() {
  const mine = session;
  view.todo = { state: 'loading', lists: [], selected: null, tasksState: 'idle', tasks: [] };
  renderTodo();
  try {
    const lists = await client.todoLists();
    if (mine !== session) return;
    view.todo.lists = lists;
    view.todo.state = 'ready';
  } catch (e) {
    if (mine !== session) return;
    view.todo.state = 'failed';
    view.todo.error = e;
    showError(e);
  }
  renderTodo();
}

async function selectList(id) {
  const mine = session;
  clearError();
  view.todo.selected = id;
  view.todo.tasks = [];
  view.todo.tasksState = 'loading';
  renderTodo();
  try {
    const tasks = await client.todoTasks(id);
    if (mine !== session || view.todo.selected !== id) return;
    view.todo.tasks = tasks;
    view.todo.tasksState = 'ready';
  } catch (e) {
    if (mine !== session || view.todo.selected !== id) return;
    view.todo.tasksState = 'failed';
    view.todo.tasksError = e;
    showError(e);
  }
  renderTodo();
}

/** Checks the address's status; with `thenInvite`, invites it unless it is a member or a guest already. */
async function inviteFlow(thenInvite) {
  clearError();
  const email = $('invite-email').value.trim();
  if (!email) {
    view.invite = { phase: 'missing' };
    renderInvite();
    return;
  }
  const mine = session;
  view.invite = { phase: 'checking', status: null, redeemUrl: null };
  renderInvite();
  try {
    const checked = await client.inviteStatus(email);
    if (mine !== session) return;
    const noNeed = NO_INVITE_NEEDED.includes(checked.status);
    view.invite = { phase: thenInvite && !noNeed ? 'inviting' : 'done', status: checked.status, redeemUrl: checked.redeemUrl ?? null, noNeed: thenInvite && noNeed };
    renderInvite();
    if (!thenInvite || noNeed) return;
    const invited = await client.invite(email);
    if (mine !== session) return;
    view.invite = { phase: 'done', status: invited.status, redeemUrl: invited.redeemUrl ?? null };
  } catch (e) {
    if (mine !== session) return;
    view.invite = { ...view.invite, phase: 'done' };
    showError(e);
  }
  renderInvite();
}

async function copyInviteLink() {
  const url = view.invite?.redeemUrl;
  if (!url) return;
  const button = $('invite-copy');
  try {
    await navigator.clipboard.writeText(url);
    button.textContent = t('invite.copied');
  } catch {
    // No clipboard (an insecure origin or a refused permission): select the text instead.
    const range = document.createRange();
    range.selectNodeContents($('invite-url'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
  setTimeout(() => (button.textContent = t('invite.copy')), 1500);
}

function switchLanguage() {
  setLang(lang() === 'en' ? 'zh' : 'en');
  renderAll();
}

// ---------------------------------------------------------------------------------------------
// Boot

function wire() {
  $('signin-redirect').addEventListener('click', signInRedirect);
  $('signin-popup').addEventListener('click', signInPopup);
  $('signout').addEventListener('click', signOut);
  $('error-signin').addEventListener('click', signInAgain);
  $('error-dismiss').addEventListener('click', clearError);
  $('lang').addEventListener('click', switchLanguage);
  $('refresh-profile').addEventListener('click', () => {
    clearError();
    loadProfile();
  });
  $('load-inbox').addEventListener('click', () => {
    clearError();
    loadInbox();
  });
  $('inbox-more').addEventListener('click', moreInbox);
  $('compose-form').addEventListener('submit', sendMail);
  $('load-todo').addEventListener('click', () => {
    clearError();
    loadTodo();
  });
  $('invite-check').addEventListener('click', () => inviteFlow(false));
  $('invite-form').addEventListener('submit', (event) => {
    event.preventDefault();
    inviteFlow(true);
  });
  $('invite-copy').addEventListener('click', copyInviteLink);
  window.addEventListener('unhandledrejection', (event) => showError(event.reason));
}

async function boot() {
  const popup = inSignInPopup();
  // Asked for before anything is drawn: the session check needs the client and nothing else.
  const made = popup ? null : ensureClient();
  made?.catch(() => {}); // awaited below
  setLang(savedLang());
  translate();
  wire();
  if (popup) {
    // Leave the URL alone: the page that opened this popup picks the code up from it.
    view.phase = 'popup';
    renderAll();
    return;
  }
  renderAll();
  try {
    await made;
  } catch (e) {
    showError(e);
    enterSignedOut();
    return;
  }
  let account = null;
  try {
    const back = await client.handleRedirect();
    account = back?.account ?? null;
    if (!back && client.navigating) {
      // A redeemed invitation's return, or a silent sign-in that needs the user after all: the
      // library is sending the page on to Microsoft. Say so rather than flash "signed out".
      view.phase = 'redirecting';
      renderShell();
      return;
    }
  } catch (e) {
    showError(e); // a refused sign-in (AADSTS50020, a cancelled consent, …) comes back here
  }
  try {
    account = (await client.account()) ?? account;
  } catch (e) {
    showError(e);
  }
  // Boot is done: the page knows who is signed in (tests/bench/startup.mjs measures up to here).
  performance.mark('graphgate-ready');
  if (account) await enterSignedIn(account);
  else enterSignedOut();
}

boot();
