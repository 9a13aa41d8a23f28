// The demo page's UI text in English and Chinese, and helpers that apply the chosen language to the page.

/** Every string the page shows, by language; `{name}` marks a value filled in at run time. */
export const STRINGS = {
  en: {
    'app.title': 'graphgate demo',
    'app.tagline': 'Microsoft sign-in and Graph from the browser',
    'lang.switch': '中文',
    'lang.switchLabel': 'Switch the page to Chinese',

    'state.loading': 'Loading…',
    'state.signedIn': 'Signed in as {name}',
    'state.signedOut': 'Signed out',
    'state.finishing': 'Finishing sign-in… this window closes by itself.',
    'state.redirecting': 'Taking you to Microsoft sign-in…',

    'signin.title': 'Sign in to try it',
    'signin.lead':
      'This page signs you in with a Microsoft account (work, school or personal), then reads your profile, mail and To Do lists through Microsoft Graph. Tokens stay in the page’s memory and the proxy; nothing is written to local storage.',
    'signin.redirect': 'Sign in (redirect)',
    'signin.popup': 'Sign in (popup)',
    'signin.sandbox':
      'Running against the emulator? Pick adele@contoso.onmicrosoft.com (may invite guests), megan@contoso.onmicrosoft.com, or bob@fabrikam.onmicrosoft.com (an outsider until invited).',
    'signout': 'Sign out',

    'profile.title': 'Profile',
    'profile.refresh': 'Refresh',
    'profile.name': 'Name',
    'profile.upn': 'User name',
    'profile.mail': 'Mail',
    'profile.type': 'Account type',
    'profile.tenant': 'Tenant ID',
    'profile.empty': 'Not loaded yet.',
    'account.member': 'Member',
    'account.guest': 'Guest',
    'account.personal': 'Personal Microsoft account',

    'inbox.title': 'Inbox',
    'inbox.reload': 'Reload',
    'inbox.more': 'More',
    'inbox.empty': 'No messages.',
    'inbox.loading': 'Loading messages…',
    'inbox.unavailable': 'The inbox could not be read:',
    'inbox.noSubject': '(no subject)',
    'inbox.unread': 'Unread',
    'inbox.count': '{count} shown',

    'compose.title': 'Send mail',
    'compose.to': 'To',
    'compose.toPlaceholder': 'megan@contoso.onmicrosoft.com',
    'compose.subject': 'Subject',
    'compose.body': 'Message',
    'compose.send': 'Send',
    'compose.sending': 'Sending…',
    'compose.sent': 'Sent to {to}.',
    'compose.failed': 'Not sent:',
    'compose.missing': 'Fill in a recipient and a subject.',

    'todo.title': 'To Do',
    'todo.lists': 'Lists',
    'todo.tasks': 'Tasks',
    'todo.reload': 'Reload',
    'todo.noLists': 'No To Do lists.',
    'todo.unavailable': 'To Do could not be read:',
    'todo.pick': 'Pick a list to see its tasks.',
    'todo.noTasks': 'This list has no tasks.',
    'todo.loading': 'Loading…',
    'todo.done': 'Done',
    'todo.open': 'Open',

    'invite.title': 'Invite a guest',
    'invite.lead': 'Adds someone from another organization to this tenant so they can sign in here.',
    'invite.email': 'Email address',
    'invite.emailPlaceholder': 'bob@fabrikam.onmicrosoft.com',
    'invite.check': 'Check status',
    'invite.send': 'Invite',
    'invite.checking': 'Checking…',
    'invite.inviting': 'Inviting…',
    'invite.missing': 'Type an email address first.',
    'invite.status': 'Status',
    'invite.noNeed': 'No invitation needed.',
    'invite.mailed': 'Microsoft emails the invitation to the address.',
    'invite.link': 'Open the redemption link',
    'invite.linkHelp': 'Send this link to the guest; they accept the invitation there.',
    'invite.copy': 'Copy link',
    'invite.copied': 'Copied',
    'status.member': 'Member of this tenant',
    'status.guest-accepted': 'Guest (invitation accepted)',
    'status.guest-pending': 'Guest, invitation not accepted yet',
    'status.invited': 'Invited just now',
    'status.not-invited': 'Not in this tenant, not invited',

    'error.title': 'Something went wrong',
    'error.hint': 'How to fix it',
    'error.why': 'Why',
    'error.correlation': 'Correlation ID',
    'error.lookup': 'Look the code up at Microsoft',
    'error.signin': 'Sign in again',
    'error.dismiss': 'Dismiss',
    'error.noHint': 'The catalogue has no explanation for this code.',
    'error.details': 'Technical details',

    'footer.text': 'Tokens live in memory only. The language choice is the one thing this page stores.',
  },

  zh: {
    'app.title': 'graphgate 演示',
    'app.tagline': '在浏览器中使用 Microsoft 登录并调用 Graph',
    'lang.switch': 'English',
    'lang.switchLabel': '将页面切换为英文',

    'state.loading': '加载中…',
    'state.signedIn': '已登录：{name}',
    'state.signedOut': '未登录',
    'state.finishing': '正在完成登录……此窗口会自动关闭。',
    'state.redirecting': '正在前往 Microsoft 登录…',

    'signin.title': '登录后即可体验',
    'signin.lead':
      '本页面使用 Microsoft 帐户（工作、学校或个人帐户）登录，然后通过 Microsoft Graph 读取你的个人资料、邮件和待办事项列表。令牌只保存在页面内存和代理中，不会写入本地存储。',
    'signin.redirect': '登录（跳转）',
    'signin.popup': '登录（弹出窗口）',
    'signin.sandbox':
      '在模拟器上运行？可选择 adele@contoso.onmicrosoft.com（可以邀请来宾）、megan@contoso.onmicrosoft.com，或 bob@fabrikam.onmicrosoft.com（受邀前是外部用户）。',
    'signout': '退出登录',

    'profile.title': '个人资料',
    'profile.refresh': '刷新',
    'profile.name': '姓名',
    'profile.upn': '用户名',
    'profile.mail': '邮箱',
    'profile.type': '帐户类型',
    'profile.tenant': '租户 ID',
    'profile.empty': '尚未加载。',
    'account.member': '成员',
    'account.guest': '来宾',
    'account.personal': '个人 Microsoft 帐户',

    'inbox.title': '收件箱',
    'inbox.reload': '重新加载',
    'inbox.more': '更多',
    'inbox.empty': '没有邮件。',
    'inbox.loading': '正在加载邮件…',
    'inbox.unavailable': '无法读取收件箱：',
    'inbox.noSubject': '（无主题）',
    'inbox.unread': '未读',
    'inbox.count': '已显示 {count} 封',

    'compose.title': '发送邮件',
    'compose.to': '收件人',
    'compose.toPlaceholder': 'megan@contoso.onmicrosoft.com',
    'compose.subject': '主题',
    'compose.body': '正文',
    'compose.send': '发送',
    'compose.sending': '正在发送…',
    'compose.sent': '已发送给 {to}。',
    'compose.failed': '未发送：',
    'compose.missing': '请填写收件人和主题。',

    'todo.title': '待办事项',
    'todo.lists': '列表',
    'todo.tasks': '任务',
    'todo.reload': '重新加载',
    'todo.noLists': '没有待办事项列表。',
    'todo.unavailable': '无法读取待办事项：',
    'todo.pick': '选择一个列表以查看其中的任务。',
    'todo.noTasks': '此列表中没有任务。',
    'todo.loading': '加载中…',
    'todo.done': '已完成',
    'todo.open': '未完成',

    'invite.title': '邀请来宾',
    'invite.lead': '把其他组织的用户加入本租户，使其可以在这里登录。',
    'invite.email': '邮箱地址',
    'invite.emailPlaceholder': 'bob@fabrikam.onmicrosoft.com',
    'invite.check': '查询状态',
    'invite.send': '邀请',
    'invite.checking': '正在查询…',
    'invite.inviting': '正在邀请…',
    'invite.missing': '请先输入邮箱地址。',
    'invite.status': '状态',
    'invite.noNeed': '无需邀请。',
    'invite.mailed': '微软会把邀请邮件发送到该地址。',
    'invite.link': '打开兑换链接',
    'invite.linkHelp': '把此链接发给来宾，对方在该页面接受邀请。',
    'invite.copy': '复制链接',
    'invite.copied': '已复制',
    'status.member': '本租户成员',
    'status.guest-accepted': '来宾（已接受邀请）',
    'status.guest-pending': '来宾，尚未接受邀请',
    'status.invited': '刚刚已邀请',
    'status.not-invited': '不在本租户中，尚未邀请',

    'error.title': '出现错误',
    'error.hint': '解决方法',
    'error.why': '原因',
    'error.correlation': '关联 ID',
    'error.lookup': '在 Microsoft 网站查询此代码',
    'error.signin': '重新登录',
    'error.dismiss': '关闭',
    'error.noHint': '错误目录中没有此代码的说明。',
    'error.details': '技术细节',

    'footer.text': '令牌只保存在内存中。本页面唯一保存的是语言选择。',
  },
};

export const LANGS = ['en', 'zh'];
const STORE_KEY = 'graphgate-demo.lang';

let current = 'en';

/** The language in effect: `en` or `zh`. */
export function lang() {
  return current;
}

/** The language kept from last time, or English. */
export function savedLang() {
  try {
    const kept = localStorage.getItem(STORE_KEY);
    if (LANGS.includes(kept)) return kept;
  } catch {
    // Storage may be off (private mode); English it is.
  }
  return 'en';
}

/** Switches the language, keeps the choice (only the language is ever stored) and retranslates the page. */
export function setLang(next, root = document) {
  current = LANGS.includes(next) ? next : 'en';
  try {
    localStorage.setItem(STORE_KEY, current);
  } catch {
    // Not kept; the page still switches.
  }
  document.documentElement.lang = current;
  translate(root);
}

/** One string in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Fills every element marked `data-i18n` (text), `data-i18n-placeholder` and `data-i18n-label` (aria-label). */
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  document.title = t('app.title');
}
