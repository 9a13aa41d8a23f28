// A page written against the npm package's declarations: `tsc --noEmit -p tests/types` checks that
// the API is usable from TypeScript as documented (it is type-checked, not run).
import {
  createClient,
  createClientFromProxy,
  GraphgateError,
  inSignInPopup,
  type Account,
  type AuthenticationResult,
  type BatchResponse,
  type Client,
  type Message,
  type TodoTask,
} from 'graphgate';

async function start(): Promise<Client> {
  const fromProxy = await createClientFromProxy('https://app.example.com', { refreshMarginSeconds: 120 });
  const explicit = await createClient({
    proxyUrl: '',
    clientId: '6731de76-14a6-49ae-97bc-6eba6914391e',
    tenant: 'common',
    loginBaseUrl: 'https://login.microsoftonline.com',
    graphBaseUrl: 'https://graph.microsoft.com/v1.0',
    scopes: ['User.Read', 'Mail.Send'],
    navigate: (url: string) => location.assign(url),
  });
  return explicit.options.tenant === 'common' ? explicit : fromProxy;
}

async function signIn(client: Client): Promise<Account | null> {
  if (inSignInPopup()) return null;
  const back: AuthenticationResult | null = await client.handleRedirect();
  if (back) return back.account;
  const known = await client.account();
  if (known) return known;
  try {
    const popup = await client.loginPopup({ scopes: ['User.Read'], prompt: 'select_account', loginHint: 'adele@contoso.com' });
    return popup?.account ?? null;
  } catch (e) {
    if (e instanceof GraphgateError && e.code === 'popup_blocked') {
      await client.loginRedirect({ domainHint: 'contoso.com', state: '/inbox' });
    }
    return null;
  }
}

async function work(client: Client): Promise<void> {
  let token: string;
  try {
    token = await client.getAccessToken({ scopes: ['Mail.Read'] });
  } catch (e) {
    if (e instanceof GraphgateError && e.interactionRequired) {
      await client.loginRedirect();
      return;
    }
    throw e;
  }
  const expires: Date = (await client.acquireToken()).expiresOn;
  const me = await client.me();
  const name: string | undefined = me.displayName;
  await client.sendMail({ to: ['megan@contoso.com', { address: 'bob@fabrikam.com', name: 'Bob' }], subject: 'Hi', html: '<b>hi</b>' });
  await client.sendMail(
    { subject: 'Graph shape', toRecipients: [{ emailAddress: { address: 'megan@contoso.com' } }] },
    { saveToSentItems: false },
  );
  const page = await client.listMessages({ top: 10, folder: 'inbox', select: ['subject', 'from'] });
  const first: Message | undefined = page.value[0];
  if (page.nextLink) {
    for await (const more of client.graph.pages<Message>(page.nextLink)) {
      more.forEach((m) => m.subject?.toUpperCase());
    }
  }
  const lists = await client.todoLists();
  const tasks: TodoTask[] = lists[0] ? await client.todoTasks(lists[0].id) : [];
  const answers: BatchResponse[] = await client.graph.batch([
    { url: '/me' },
    { id: 'send', method: 'POST', url: '/me/sendMail', body: { message: {} }, dependsOn: ['1'] },
  ]);
  const updated = await client.graph.patch<{ id: string }>('/me/todo/lists/x', { displayName: 'Renamed' }, { 'If-Match': '*' });
  await client.graph.delete('/me/messages/x');
  const invited = await client.invite('guest@fabrikam.com', { displayName: 'Guest', sendInvitationMessage: true });
  if (invited.status === 'invited' && invited.redeemUrl) console.info(invited.redeemUrl);
  const status = (await client.inviteStatus('guest@fabrikam.com')).status;
  const url: string = await client.logout({ redirect: false });
  console.info(token.length, expires, name, first?.id, tasks.length, answers.length, updated.id, status, url);
}

function explain(e: unknown): string {
  if (!(e instanceof GraphgateError)) return String(e);
  const parts: (string | number | null)[] = [e.code, e.aadsts, e.hint, e.hintZh, e.explanation, e.explanationZh, e.correlationId, e.status];
  return `${e.retryable ? 'retry later: ' : ''}${parts.filter((p) => p !== null).join(' · ')}`;
}

start()
  .then(async (client) => {
    if (await signIn(client)) await work(client);
  })
  .catch((e: unknown) => console.error(explain(e)));
