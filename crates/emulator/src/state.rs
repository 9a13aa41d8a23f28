//! The emulator's world: the directory (tenants, apps, users), grants, mailboxes and To Do lists.
//!
//! One `Mutex<World>` holds it all; handlers lock it briefly and never across an `.await`.

use std::collections::{BTreeSet, HashMap, HashSet};

use graphgate_core::CONSUMERS_TENANT_ID;
use rsa::PublicKey as RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::{Value, json};
use x509_cert::der::{DecodePem, Encode};

use crate::ids::{guid, iso8601};
use crate::seed::{AppSeed, Audience, RedirectKind, RedirectSeed, Seed};

/// A directory.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    /// Tenant ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Verified domains.
    pub domains: Vec<String>,
    /// Whether it has Exchange Online.
    pub exchange: bool,
}

/// A registered certificate.
#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    /// `x5t#S256` thumbprint.
    pub s256: String,
    /// `x5t` (SHA-1) thumbprint.
    pub sha1: String,
    /// The certificate's RSA public key.
    pub key: RsaPublicKey,
}

/// An application registration.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// The seed it came from.
    pub seed: AppSeed,
    /// Parsed certificates.
    pub certificates: Vec<Certificate>,
    /// Application permissions with admin consent, per tenant ID.
    pub roles: HashMap<String, Vec<String>>,
}

impl App {
    /// The registered redirect URI matching `uri`: exact, except that the port of a
    /// `http://localhost` or `http://127.0.0.1` URI is ignored (as Entra does for loopback).
    pub(crate) fn redirect(&self, uri: &str) -> Option<&RedirectSeed> {
        let loose = loopback_without_port(uri);
        self.seed
            .redirect_uris
            .iter()
            .find(|r| r.uri == uri || (loose.is_some() && loopback_without_port(&r.uri) == loose))
    }

    /// Whether `uri` is registered for a browser (SPA) redemption.
    pub(crate) fn is_spa(&self, uri: &str) -> bool {
        self.redirect(uri).is_some_and(|r| r.kind == RedirectKind::Spa)
    }
}

/// `http://localhost/path` for `http://localhost:1234/path`; `None` for other URIs.
fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        .then(|| format!("http://{host}{}", if path.is_empty() { "/" } else { path }))
}

/// Member or guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserType {
    /// A member of the tenant (or a personal account in the consumer tenant).
    Member,
    /// A B2B guest.
    Guest,
}

/// A user object in one tenant.
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// Object ID.
    pub id: String,
    /// The tenant this object lives in.
    pub tenant_id: String,
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub name: String,
    /// Primary email address.
    pub mail: Option<String>,
    /// Other addresses.
    pub other_mails: Vec<String>,
    /// Whether the object has a mailbox.
    pub mailbox: bool,
    /// Whether the user may grant admin consent.
    pub admin: bool,
    /// Member or guest.
    pub user_type: UserType,
    /// For guests: `PendingAcceptance` or `Accepted`.
    pub external_state: Option<String>,
    /// For guests: the object ID of the home account, once known.
    pub home_user: Option<String>,
}

impl User {
    /// Whether this is a personal Microsoft account.
    pub(crate) fn is_personal(&self) -> bool {
        self.tenant_id == CONSUMERS_TENANT_ID
    }

    /// Whether `address` is one of this user's addresses (without regard to case).
    pub(crate) fn owns_address(&self, address: &str) -> bool {
        let a = address.trim();
        self.upn.eq_ignore_ascii_case(a)
            || self.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(a))
            || self.other_mails.iter().any(|m| m.eq_ignore_ascii_case(a))
    }

    /// Graph's JSON for this user.
    pub(crate) fn to_graph(&self) -> Value {
        json!({
            "id": self.id,
            "displayName": self.name,
            "userPrincipalName": self.upn,
            "mail": self.mail,
            "otherMails": self.other_mails,
            "proxyAddresses": self.mail.iter().map(|m| format!("SMTP:{m}")).collect::<Vec<_>>(),
            "userType": if self.user_type == UserType::Guest { "Guest" } else { "Member" },
            "externalUserState": self.external_state,
            "givenName": self.name.split(' ').next(),
            "surname": self.name.split(' ').nth(1),
            "businessPhones": [],
            "jobTitle": null,
            "mobilePhone": null,
            "officeLocation": null,
            "preferredLanguage": null,
        })
    }
}

/// A mail folder.
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    /// Folder ID.
    pub id: String,
    /// Well-known name: `inbox`, `sentitems`, `drafts`, `deleteditems`.
    pub well_known: &'static str,
    /// Messages, Graph-shaped, newest last.
    pub messages: Vec<Value>,
}

/// A mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    /// Its folders.
    pub folders: Vec<Folder>,
}

impl Mailbox {
    fn new() -> Self {
        let folder = |well_known| Folder { id: guid(), well_known, messages: Vec::new() };
        Self { folders: vec![folder("inbox"), folder("sentitems"), folder("drafts"), folder("deleteditems")] }
    }

    /// The folder with this ID or well-known name.
    pub(crate) fn folder_mut(&mut self, id: &str) -> Option<&mut Folder> {
        self.folders.iter_mut().find(|f| f.id == id || f.well_known.eq_ignore_ascii_case(id))
    }

    /// The folder with this ID or well-known name.
    pub(crate) fn folder(&self, id: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.id == id || f.well_known.eq_ignore_ascii_case(id))
    }
}

/// Builds a Graph message resource.
pub(crate) fn message_json(from: &Value, to: &[Value], subject: &str, body: &Value, now: u64, extra: &Value) -> Value {
    let mut m = json!({
        "id": guid(),
        "createdDateTime": iso8601(now),
        "receivedDateTime": iso8601(now),
        "sentDateTime": iso8601(now),
        "subject": subject,
        "bodyPreview": body.get("content").and_then(Value::as_str).unwrap_or("").chars().take(255).collect::<String>(),
        "body": body,
        "from": from,
        "sender": from,
        "toRecipients": to,
        "ccRecipients": [],
        "bccRecipients": [],
        "isRead": false,
        "hasAttachments": false,
        "importance": "normal",
    });
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// A To Do list.
#[derive(Debug, Clone)]
pub(crate) struct TodoList {
    /// Graph's JSON for the list (without tasks).
    pub list: Value,
    /// Graph's JSON for its tasks.
    pub tasks: Vec<Value>,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    /// The application it was issued to.
    pub client_id: String,
    /// The redirect URI of the authorize request.
    pub redirect_uri: String,
    /// The user object that signed in (in the issuing tenant).
    pub user_id: String,
    /// The issuing tenant.
    pub tid: String,
    /// The scopes granted.
    pub scopes: BTreeSet<String>,
    /// The scopes requested (OIDC ones decide id_token and refresh token).
    pub requested: Vec<String>,
    /// The authorize request's nonce.
    pub nonce: Option<String>,
    /// PKCE challenge and method.
    pub challenge: Option<(String, String)>,
    /// The client capabilities (`xms_cc`) the authorize request's `claims` declared.
    pub capabilities: Vec<String>,
    /// The claims challenges (IDs) the sign-in answered: their claims were on the request.
    pub satisfied: BTreeSet<String>,
    /// When it was issued.
    pub issued_at: u64,
    /// Whether it was redeemed.
    pub redeemed: bool,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    /// The application.
    pub client_id: String,
    /// The user object.
    pub user_id: String,
    /// The issuing tenant.
    pub tid: String,
    /// The OIDC scopes originally asked for (`openid` → id_token on refresh).
    pub oidc: Vec<String>,
    /// When it was last used.
    pub last_used: u64,
    /// The user's revocation epoch when it was issued; revoking moves the epoch on.
    pub epoch: u64,
    /// The claims challenges (IDs) the grant has answered; tokens it mints answer them too.
    pub satisfied: BTreeSet<String>,
    /// When the grant began: the sign-in whose code was redeemed (refreshing keeps it).
    pub issued_at: u64,
    /// For a code redeemed through a `spa` redirect URI: the fixed end of the grant, 24 hours
    /// after the sign-in, which every refresh token of the grant keeps (AADSTS700084 after it).
    pub spa_expires_at: Option<u64>,
}

/// An invitation sent through Graph.
#[derive(Debug, Clone)]
pub(crate) struct InvitationRecord {
    /// Invitation ID.
    pub id: String,
    /// The inviting tenant.
    pub tenant_id: String,
    /// The invited address.
    pub email: String,
    /// The guest user object created for it.
    pub user_id: String,
    /// The token in the redeem URL.
    pub redeem_token: String,
    /// Where redemption leads.
    pub redirect_url: String,
    /// When it was sent.
    pub created_at: u64,
}

/// Everything that changes while the emulator runs.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// Tenants.
    pub tenants: Vec<Tenant>,
    /// Applications.
    pub apps: Vec<App>,
    /// User objects, members and guests, in every tenant.
    pub users: Vec<User>,
    /// Mailboxes by user object ID.
    pub mailboxes: HashMap<String, Mailbox>,
    /// To Do lists by user object ID.
    pub todo: HashMap<String, Vec<TodoList>>,
    /// Delegated consents: (client ID, user object ID) → scopes.
    pub consents: HashMap<(String, String), BTreeSet<String>>,
    /// Outstanding authorization codes.
    pub codes: HashMap<String, CodeGrant>,
    /// Refresh tokens.
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// Invitations.
    pub invitations: Vec<InvitationRecord>,
    /// Client-assertion IDs already used.
    pub used_jtis: HashSet<String>,
    /// Sign-in sessions of the emulator's own pages: cookie value → user object ID.
    pub sessions: HashMap<String, String>,
    /// Revocation epochs by user object ID: refresh tokens from an earlier epoch are revoked.
    pub revocations: HashMap<String, u64>,
    /// Claims challenges Graph gives a user's `cp1` tokens, by user object ID.
    pub claims_challenges: HashMap<String, crate::challenges::ClaimsChallenge>,
}

impl World {
    /// Builds the world from a seed; `now` stamps seeded messages.
    pub(crate) fn from_seed(seed: &Seed, now: u64) -> Result<Self, String> {
        let mut w = World {
            tenants: seed
                .tenants
                .iter()
                .map(|t| Tenant {
                    id: t.id.to_ascii_lowercase(),
                    name: t.name.clone(),
                    domains: t.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                    exchange: t.exchange,
                })
                .collect(),
            ..World::default()
        };
        for a in &seed.apps {
            let certificates =
                a.certificates.iter().map(|pem| parse_certificate(pem)).collect::<Result<Vec<_>, _>>()?;
            let mut roles = HashMap::new();
            roles.insert(a.home_tenant.to_ascii_lowercase(), a.application_permissions.clone());
            let mut seed = a.clone();
            seed.client_id = seed.client_id.to_ascii_lowercase();
            seed.home_tenant = seed.home_tenant.to_ascii_lowercase();
            w.apps.push(App { seed, certificates, roles });
        }
        for u in &seed.users {
            let tenant_id = if u.tenant.eq_ignore_ascii_case("consumers") {
                CONSUMERS_TENANT_ID.to_owned()
            } else {
                u.tenant.to_ascii_lowercase()
            };
            if tenant_id != CONSUMERS_TENANT_ID && w.tenant(&tenant_id).is_none() {
                return Err(format!("user {} names tenant {} which the seed does not define", u.upn, u.tenant));
            }
            let user = User {
                id: u.id.to_ascii_lowercase(),
                tenant_id,
                upn: u.upn.clone(),
                name: u.name.clone(),
                mail: u.mail.clone(),
                other_mails: u.other_mails.clone(),
                mailbox: u.mailbox,
                admin: u.admin,
                user_type: UserType::Member,
                external_state: None,
                home_user: None,
            };
            if user.mailbox {
                w.mailboxes.insert(user.id.clone(), Mailbox::new());
            }
            w.users.push(user);
        }
        for m in &seed.messages {
            let owner = w
                .member_by_address(&m.owner)
                .ok_or_else(|| format!("message owner {} is not a seeded user", m.owner))?
                .id
                .clone();
            let from = json!({"emailAddress": {"address": m.from, "name": w.member_by_address(&m.from).map(|u| u.name.clone()).unwrap_or_else(|| m.from.clone())}});
            let to = json!({"emailAddress": {"address": m.owner}});
            let msg = message_json(
                &from,
                &[to],
                &m.subject,
                &json!({"contentType": "text", "content": m.body}),
                now,
                &json!({}),
            );
            let folder = w
                .mailboxes
                .get_mut(&owner)
                .and_then(|mb| mb.folder_mut(&m.folder))
                .ok_or_else(|| format!("{} has no mailbox folder {}", m.owner, m.folder))?;
            folder.messages.push(msg);
        }
        for l in &seed.todo_lists {
            let owner = w
                .member_by_address(&l.owner)
                .ok_or_else(|| format!("To Do owner {} is not a seeded user", l.owner))?
                .id
                .clone();
            let list = json!({"id": guid(), "displayName": l.name, "isOwner": true, "isShared": false, "wellknownListName": l.wellknown.as_deref().unwrap_or("none")});
            let tasks = l
                .tasks
                .iter()
                .map(|t| json!({"id": guid(), "title": t.title, "status": t.status, "importance": "normal", "isReminderOn": false, "createdDateTime": iso8601(now), "lastModifiedDateTime": iso8601(now), "body": {"content": "", "contentType": "text"}, "categories": []}))
                .collect();
            w.todo.entry(owner).or_default().push(TodoList { list, tasks });
        }
        Ok(w)
    }

    /// The tenant with this ID or domain.
    pub(crate) fn tenant(&self, id_or_domain: &str) -> Option<&Tenant> {
        let key = id_or_domain.to_ascii_lowercase();
        self.tenants.iter().find(|t| t.id == key || t.domains.contains(&key))
    }

    /// The application with this client ID.
    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        let key = client_id.to_ascii_lowercase();
        self.apps.iter().find(|a| a.seed.client_id == key)
    }

    /// The user object with this ID.
    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id.eq_ignore_ascii_case(id))
    }

    /// The user object with this ID, for changes.
    pub(crate) fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id.eq_ignore_ascii_case(id))
    }

    /// The home account (member or personal account, not a guest object) owning `address`.
    pub(crate) fn member_by_address(&self, address: &str) -> Option<&User> {
        self.users.iter().find(|u| u.user_type == UserType::Member && u.owns_address(address))
    }

    /// The user objects of `tenant_id`.
    pub(crate) fn users_in<'a>(&'a self, tenant_id: &'a str) -> impl Iterator<Item = &'a User> + 'a {
        self.users.iter().filter(move |u| u.tenant_id == tenant_id)
    }

    /// The guest object for home account `home` in `tenant_id`, if it was invited there.
    pub(crate) fn guest_of(&self, tenant_id: &str, home: &User) -> Option<&User> {
        self.users.iter().find(|u| {
            u.tenant_id == tenant_id
                && u.user_type == UserType::Guest
                && (u.home_user.as_deref() == Some(home.id.as_str())
                    || u.mail.as_deref().is_some_and(|m| home.owns_address(m)))
        })
    }

    /// The home account behind a user object (itself for members).
    pub(crate) fn home_of<'a>(&'a self, user: &'a User) -> &'a User {
        match user.user_type {
            UserType::Member => user,
            UserType::Guest => user
                .home_user
                .as_deref()
                .and_then(|h| self.user(h))
                .or_else(|| user.mail.as_deref().and_then(|m| self.member_by_address(m)))
                .unwrap_or(user),
        }
    }

    /// The issuer of tokens for a home account: what a guest's `idp` claim names.
    pub(crate) fn idp_of(&self, home: &User) -> String {
        if home.is_personal() { "live.com".to_owned() } else { format!("https://sts.windows.net/{}/", home.tenant_id) }
    }

    /// Whether `tid`'s directory may hold a mailbox for this object: members of a tenant with
    /// Exchange, and personal accounts.
    pub(crate) fn has_mailbox(&self, user: &User) -> bool {
        user.user_type == UserType::Member
            && user.mailbox
            && self.mailboxes.contains_key(&user.id)
            && (user.is_personal() || self.tenant(&user.tenant_id).is_some_and(|t| t.exchange))
    }
}

/// Which accounts an application's audience lets in.
pub(crate) fn audience_allows(audience: Audience, personal: bool, in_home_tenant: bool) -> bool {
    match audience {
        Audience::SingleTenant => in_home_tenant && !personal,
        Audience::MultiTenant => !personal,
        Audience::MultiTenantAndPersonal => true,
        Audience::PersonalOnly => personal,
    }
}

fn parse_certificate(pem: &str) -> Result<Certificate, String> {
    let cert =
        x509_cert::Certificate::from_pem(pem.trim().as_bytes()).map_err(|e| format!("invalid certificate PEM: {e}"))?;
    let der = cert.to_der().map_err(|e| format!("invalid certificate: {e}"))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| format!("invalid certificate key: {e}"))?;
    let key = RsaPublicKey::from_public_key_der(&spki).map_err(|e| format!("the certificate's key is not RSA: {e}"))?;
    Ok(Certificate {
        s256: graphgate_core::assertion::thumbprint_s256(&der),
        sha1: graphgate_core::assertion::thumbprint_sha1(&der),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_any_port() {
        let w = World::from_seed(&Seed::sandbox(), 0).expect("seed");
        let app = &w.apps[0];
        assert!(app.redirect("http://localhost:5173/").is_some());
        assert!(app.redirect("http://localhost:40123/").is_some());
        assert!(app.redirect("http://127.0.0.1:9/").is_some());
        assert!(app.redirect("http://localhost:5173/other").is_none());
        assert!(app.redirect("https://evil.example/").is_none());
        assert!(app.is_spa("http://localhost:3000/spa"));
    }

    #[test]
    fn seeds_users_mailboxes_and_lists() {
        let w = World::from_seed(&Seed::sandbox(), 0).expect("seed");
        let adele = w.member_by_address("ADELE@contoso.onmicrosoft.com").expect("adele");
        assert!(w.has_mailbox(adele));
        assert_eq!(w.mailboxes[&adele.id].folder("inbox").expect("inbox").messages.len(), 2);
        assert_eq!(w.todo[&adele.id][0].tasks.len(), 3);
        let kim = w.member_by_address("kim@outlook.example").expect("kim");
        assert!(kim.is_personal());
        assert_eq!(w.idp_of(kim), "live.com");
        assert!(w.tenant("CONTOSO.onmicrosoft.com").is_some());
    }
}
