//! The invitation redemption page behind `inviteRedeemUrl`: accepting marks the guest
//! `Accepted`, opens a sign-in session for the person's home account, and continues to
//! `inviteRedirectUrl` (one-step onboarding when that is the app's authorize URL).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use graphgate_core::CONSUMERS_TENANT_ID;

use super::pages::{self, esc};
use crate::Ctx;
use crate::ids::guid;
use crate::state::{User, UserType};

/// `GET /redeem?rd=…`: who invites whom, and an Accept button.
pub(super) async fn get(State(ctx): State<Arc<Ctx>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let world = ctx.world();
    let Some(inv) = q.get("rd").and_then(|rd| world.invitations.iter().find(|i| &i.redeem_token == rd)) else {
        return pages::error_page(404, "This invitation link is not valid.");
    };
    let tenant = world.tenant(&inv.tenant_id).map(|t| t.name.clone()).unwrap_or_default();
    let body = format!(
        "<p><b>{tenant}</b> invited <b>{email}</b> to collaborate.</p><p class=\"sub\">Accepting lets {tenant} see your name and email address \
         and lets you sign in to its applications as a guest.</p><form method=\"post\" action=\"/redeem\">\
         <input type=\"hidden\" name=\"rd\" value=\"{rd}\"><div class=\"actions\"><button class=\"primary\" id=\"accept\" type=\"submit\">Accept</button></div></form>",
        tenant = esc(&tenant),
        email = esc(&inv.email),
        rd = esc(&inv.redeem_token),
    );
    pages::page("Review permissions", &body).into_response()
}

/// The Accept button's form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct RedeemForm {
    rd: String,
}

/// `POST /redeem`: marks the guest `Accepted` and continues to the invitation's redirect URL.
pub(super) async fn post(State(ctx): State<Arc<Ctx>>, Form(form): Form<RedeemForm>) -> Response {
    let mut world = ctx.world();
    let Some(inv) = world.invitations.iter().find(|i| i.redeem_token == form.rd).cloned() else {
        return pages::error_page(404, "This invitation link is not valid.");
    };
    // An address no emulated account owns becomes a personal account, as if the person had
    // signed up with their email address while redeeming.
    let home_id = match world.member_by_address(&inv.email) {
        Some(home) => home.id.clone(),
        None => {
            let id = guid();
            world.users.push(User {
                id: id.clone(),
                tenant_id: CONSUMERS_TENANT_ID.to_owned(),
                upn: inv.email.clone(),
                name: inv.email.split('@').next().unwrap_or(&inv.email).to_owned(),
                mail: Some(inv.email.clone()),
                other_mails: Vec::new(),
                mailbox: false,
                admin: false,
                user_type: UserType::Member,
                external_state: None,
                home_user: None,
            });
            id
        }
    };
    if let Some(guest) = world.user_mut(&inv.user_id) {
        guest.external_state = Some("Accepted".to_owned());
        guest.home_user = Some(home_id.clone());
    }
    // Redeeming means the person signed in with their home account: they have a session now, so
    // the app's sign-in that follows (login_hint set) needs no second account choice.
    let session = super::open_session(&mut world, &home_id);
    ([(header::SET_COOKIE, super::set_session_cookie(&session))], Redirect::to(&inv.redirect_url)).into_response()
}
