// Types of the npm package `graphgate`: sign in with Microsoft and call Microsoft Graph from the browser.
// They go into the module's generated declarations (a `typescript_custom_section` of crates/wasm).

/** What the proxy's `GET /api/config` says, or what a page passes to `createClient`. */
export interface ClientOptions {
  /** The graphgate-proxy base URL; `''` (the default) when it serves this page's origin. */
  proxyUrl?: string;
  /** The app registration's Application (client) ID. */
  clientId: string;
  /** `common`, `organizations`, `consumers`, a tenant ID or a verified domain. */
  tenant: string;
  /** The login host, e.g. `https://login.microsoftonline.com` (clouds differ). */
  loginBaseUrl: string;
  /** Graph's base with its version, e.g. `https://graph.microsoft.com/v1.0`. */
  graphBaseUrl: string;
  /** Where sign-in comes back; defaults to this page's origin and path. */
  redirectUri?: string;
  /** Delegated scopes asked for at sign-in (default `['User.Read']`). */
  scopes?: string[];
  /** Renew tokens this many seconds before they expire: 0 to 300 (default 300, when the proxy renews them). */
  refreshMarginSeconds?: number;
  /** Retries of a Graph call answered 429, 503 or 504 (default 3). */
  maxRetries?: number;
  /** The longest `Retry-After` waited for (default 60); a longer one fails at once. */
  maxRetryDelaySeconds?: number;
  /** How long a sign-in popup may stay open (default 300). */
  popupTimeoutSeconds?: number;
  /** Where pending sign-ins are kept (default `sessionStorage`). */
  storage?: Storage;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (default `Date.now`); or `{now, sleep}`, whose `sleep(ms)` also
   *  stands in for the timer of retry waits (tests move time without waiting). */
  clock?: (() => number) | { now(): number; sleep?(ms: number): Promise<void> };
  /** Called when the user signed out, in this tab or in another tab of the app. */
  onSignedOut?: () => void;
  /** How the page goes to Microsoft's sign-in and sign-out (default `location.assign`). */
  navigate?: (url: string) => void | Promise<void>;
}

/** Who is signed in. */
export interface Account {
  /** `{objectId}.{tenantId}`. */
  homeAccountId: string;
  tenantId: string;
  /** The user's object ID in that tenant (Graph `user.id`). */
  objectId: string;
  username: string;
  name: string | null;
  email: string | null;
  /** A guest has no mailbox in the tenant that signed it in. */
  accountType: 'member' | 'guest' | 'personal';
  idp?: string;
}

export type Prompt = 'login' | 'none' | 'consent' | 'select_account';

export interface LoginRequest {
  scopes?: string[];
  prompt?: Prompt;
  loginHint?: string;
  domainHint?: string;
  /** The page's own state, given back by `handleRedirect` (it is kept locally, never sent). */
  state?: string;
  /** A claims request (JSON) for `/authorize`, such as an error's `claims`. By default, the claims
   *  of a challenge that needed the user are sent with the next sign-in. */
  claims?: string;
}

export interface AuthenticationResult {
  account: Account;
  accessToken: string;
  expiresOn: Date;
  scopes: string[];
  /** The `state` the page passed to `loginRedirect` or `loginPopup`. */
  state: string | null;
}

export interface TokenRequest {
  scopes?: string[];
  /** Skip the cached token (for example after Graph refused it). */
  forceRefresh?: boolean;
}

export interface AccessToken {
  accessToken: string;
  expiresOn: Date;
  scopes: string[];
}

/** Every error graphgate raises. */
export class GraphgateError extends Error {
  constructor(code: string, message: string, extra?: Partial<Pick<GraphgateError, 'aadsts' | 'retryable' | 'hint' | 'hintZh' | 'explanation' | 'explanationZh' | 'correlationId' | 'status' | 'slug' | 'error' | 'lookupUrl' | 'requestId' | 'clientRequestId' | 'claims' | 'suberror' | 'interactionRequired'>>);
  readonly name: 'GraphgateError';
  /** graphgate's code (`popup_blocked`, `interaction_required`, …), `AADSTS50020`, or Graph's code. */
  code: string;
  /** The AADSTS number of an Entra error. */
  aadsts: number | null;
  /** Whether trying again later may succeed. */
  retryable: boolean;
  /** The catalogue's fix, in English. */
  hint: string | null;
  /** The catalogue's fix, in Simplified Chinese. */
  hintZh: string | null;
  /** The catalogue's explanation of why it happened, in English. */
  explanation: string | null;
  /** The catalogue's explanation of why it happened, in Simplified Chinese. */
  explanationZh: string | null;
  /** Quote it to Microsoft support. */
  correlationId: string | null;
  /** The HTTP status, when one came back. */
  status: number | null;
  /** The catalogue entry's slug. */
  slug: string | null;
  /** The error's class when it differs from `code`: the OAuth error of an Entra error
   *  (`login_required`, `invalid_grant`…), or `interaction_required` from the proxy. */
  error: string | null;
  /** Microsoft's lookup page for an AADSTS number the catalogue does not know. */
  lookupUrl: string | null;
  /** Graph's `request-id` of the failed request. */
  requestId: string | null;
  /** The `client-request-id` the module sent with it. */
  clientRequestId: string | null;
  /** A claims challenge the next sign-in must carry (the module sends it by itself). */
  claims: string | null;
  /** Entra's `suberror`, such as `consent_required`. */
  suberror: string | null;
  /** True when the page should call `loginRedirect` or `loginPopup`. */
  interactionRequired: boolean;
}

/** One request of a `$batch`. */
export interface BatchRequest {
  id?: string;
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Relative to the Graph version, e.g. `/me/messages`. */
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  dependsOn?: string[];
}

export interface BatchResponse<T = any> {
  id: string;
  /** 0 when Graph's answer left this request out. */
  status: number;
  headers?: Record<string, string>;
  body: T | null;
}

export type Headers = Record<string, string>;

/** Microsoft Graph, called with the signed-in user's token. */
export interface GraphClient {
  /**
   * Any request. A `body` that is a string, `Blob`, `ArrayBuffer`, typed array, `FormData`,
   * `URLSearchParams` or stream is sent as it is; anything else as JSON. Resolves the parsed JSON
   * answer, a `Blob` for an answer that is not JSON (a photo, `$value`), or `null` when there is none.
   */
  request<T = any>(method: string, path: string, body?: unknown, headers?: Headers): Promise<T>;
  get<T = any>(path: string, headers?: Headers): Promise<T>;
  post<T = any>(path: string, body?: unknown, headers?: Headers): Promise<T>;
  patch<T = any>(path: string, body?: unknown, headers?: Headers): Promise<T>;
  put<T = any>(path: string, body?: unknown, headers?: Headers): Promise<T>;
  delete<T = any>(path: string, headers?: Headers): Promise<T>;
  /** One page: its `value` and `@odata.nextLink`. */
  page<T = any>(path: string, headers?: Headers): Promise<{ value: T[]; nextLink: string | null }>;
  /** Each page's `value`, following `@odata.nextLink`. */
  pages<T = any>(path: string, headers?: Headers): AsyncGenerator<T[], void, unknown>;
  /** Every item of every page. */
  all<T = any>(path: string, headers?: Headers): Promise<T[]>;
  /** `$batch`, 20 requests per call, requests joined by `dependsOn` in the same call; answers in the order asked. */
  batch(requests: BatchRequest[]): Promise<BatchResponse[]>;
}

export interface EmailAddress {
  address: string;
  name?: string;
}

export type Recipient = string | EmailAddress | { emailAddress: EmailAddress };

/** A message in short form; Graph's own `message` shape is accepted too. */
export interface SimpleMessage {
  to: Recipient | Recipient[];
  cc?: Recipient | Recipient[];
  bcc?: Recipient | Recipient[];
  subject: string;
  text?: string;
  html?: string;
}

export interface GraphMessage {
  subject?: string;
  body?: { contentType: 'Text' | 'HTML'; content: string };
  toRecipients: { emailAddress: EmailAddress }[];
  ccRecipients?: { emailAddress: EmailAddress }[];
  bccRecipients?: { emailAddress: EmailAddress }[];
  [key: string]: unknown;
}

export interface Message {
  id: string;
  subject?: string;
  from?: { emailAddress: EmailAddress };
  receivedDateTime?: string;
  bodyPreview?: string;
  isRead?: boolean;
  [key: string]: unknown;
}

export interface MessagePage {
  value: Message[];
  /** Pass to `graph.get` or `graph.pages` for the next page. */
  nextLink: string | null;
}

export interface User {
  id: string;
  displayName?: string;
  userPrincipalName?: string;
  mail?: string | null;
  [key: string]: unknown;
}

export interface TodoList {
  id: string;
  displayName: string;
  [key: string]: unknown;
}

export interface TodoTask {
  id: string;
  title: string;
  status?: string;
  [key: string]: unknown;
}

/** Under the proxy's `self-service` policy only `redirectUrl` and `language` may be given: the
 *  message comes from its configuration and Microsoft always mails the invitation
 *  (`invitation_field_not_allowed` otherwise). */
export interface InviteOptions {
  displayName?: string;
  /** Where the redeemed invitation leads (default: this app's sign-in); from a page, one of this app's origins. */
  redirectUrl?: string;
  /** Default: true from a page (a page gets no link), false with an API key. */
  sendInvitationMessage?: boolean;
  message?: string;
  language?: string;
}

/** `member` of the tenant, `guest-accepted` (redeemed), `guest-pending` (not redeemed yet),
 *  `invited` (just now), or `not-invited`. */
export type InviteState = 'member' | 'guest-accepted' | 'guest-pending' | 'invited' | 'not-invited';

/** A page gets only `status`; `userId` and `redeemUrl` are answered to the site's backend (API key) alone. */
export interface InviteResult {
  status: InviteState;
  /** The user's object ID (API-key callers only). */
  userId?: string;
  /** The link the guest follows to redeem the invitation (API-key callers only). */
  redeemUrl?: string;
}

export interface Client {
  /** The options in effect. */
  readonly options: Required<Pick<ClientOptions, 'proxyUrl' | 'clientId' | 'tenant' | 'loginBaseUrl' | 'graphBaseUrl' | 'redirectUri' | 'scopes'>>;
  readonly graph: GraphClient;
  /** True once the client has sent the page to Microsoft (e.g. `handleRedirect` on a redeemed
   *  invitation's return starts the app's sign-in and resolves `null`): the page is unloading. */
  readonly navigating: boolean;
  /** Goes to Microsoft's sign-in; the page comes back to the redirect URI. */
  loginRedirect(request?: LoginRequest): Promise<void>;
  /** Signs in in a popup; rejects with `popup_blocked` or `popup_closed`. */
  loginPopup(request?: LoginRequest): Promise<AuthenticationResult | null>;
  /** On the redirect page: the sign-in's result, or `null` when the page is not a redirect. */
  handleRedirect(url?: string): Promise<AuthenticationResult | null>;
  /** A valid access token; rejects with `interactionRequired` when the user must sign in again. */
  getAccessToken(request?: TokenRequest): Promise<string>;
  acquireToken(request?: TokenRequest): Promise<AccessToken>;
  /** The signed-in account, or `null`. */
  account(): Promise<Account | null>;
  /** Ends the session; resolves Microsoft's sign-out URL (navigated to with `redirect: true`). */
  logout(options?: { redirect?: boolean }): Promise<string>;
  me(): Promise<User>;
  sendMail(message: SimpleMessage | GraphMessage, options?: { saveToSentItems?: boolean }): Promise<null>;
  listMessages(options?: { top?: number; folder?: string; select?: string[] }): Promise<MessagePage>;
  todoLists(): Promise<TodoList[]>;
  todoTasks(listId: string): Promise<TodoTask[]>;
  /** Invites a guest through the proxy (its invitation policy applies). */
  invite(email: string, options?: InviteOptions): Promise<InviteResult>;
  inviteStatus(email: string): Promise<InviteResult>;
}

/** A client from explicit options. */
export function createClient(options: ClientOptions): Promise<Client>;

/** True on graphgate's sign-in popup come back with the answer: the opener finishes the sign-in. */
export function inSignInPopup(): boolean;

/** A client configured by the proxy's `GET /api/config`; `overrides` win. */
export function createClientFromProxy(proxyUrl: string, overrides?: Partial<ClientOptions>): Promise<Client>;
