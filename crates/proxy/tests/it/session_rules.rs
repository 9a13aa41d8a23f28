//! The session rules of `/api/auth/*`: `Cache-Control: no-store` on every answer, idle time
//! counted from the last use (recorded at most once per touch interval), and forced refreshes
//! held to one upstream call per session per interval.

use serde_json::json;

use crate::support::*;

fn no_store(res: &reqwest::Response) -> bool {
    res.headers().get("cache-control").and_then(|v| v.to_str().ok()) == Some("no-store")
}

#[tokio::test]
async fn every_auth_answer_is_no_store_errors_included() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, _) = rig.signed_in().await;
    let get = |path: &str, cookie: Option<&str>| {
        let mut req = rig.http.get(format!("{}{path}", rig.base));
        if let Some(c) = cookie {
            req = req.header("cookie", c.to_owned());
        }
        req
    };
    let answers = [
        ("session", get("/api/auth/session", Some(&cookie)).send().await.unwrap(), 200),
        ("session without a cookie", get("/api/auth/session", None).send().await.unwrap(), 401),
        ("token", rig.post("/api/auth/token", Some(&cookie), json!({})).send().await.unwrap(), 200),
        ("token without a cookie", rig.post("/api/auth/token", None, json!({})).send().await.unwrap(), 401),
        ("token, bad body", rig.post("/api/auth/token", Some(&cookie), json!({"nope": 1})).send().await.unwrap(), 400),
        (
            "token without the CSRF header",
            rig.http.post(format!("{}/api/auth/token", rig.base)).json(&json!({})).send().await.unwrap(),
            403,
        ),
        ("exchange, bad body", rig.post("/api/auth/exchange", None, json!({})).send().await.unwrap(), 400),
        ("unknown auth route", get("/api/auth/nothing-here", None).send().await.unwrap(), 404),
        ("logout", rig.post("/api/auth/logout", Some(&cookie), json!({})).send().await.unwrap(), 200),
    ];
    for (what, res, status) in &answers {
        assert_eq!(res.status().as_u16(), *status, "{what}");
        assert!(no_store(res), "{what}: {:?}", res.headers().get("cache-control"));
    }
    let config = get("/api/config", None).send().await.unwrap();
    assert!(!no_store(&config), "only /api/auth/* answers are marked");
}

/// The session's `last_seen`, as stored.
async fn last_seen(rig: &Rig) -> u64 {
    let sessions = rig.proxy.sessions.scan(rig.proxy.clock.now()).await.unwrap();
    assert_eq!(sessions.len(), 1);
    sessions[0].1.last_seen
}

#[tokio::test]
async fn use_of_a_session_counts_as_activity_at_most_once_per_touch_interval() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "idle_timeout_hours = 1").await;
    let (cookie, _) = rig.signed_in().await;
    let signed_in = last_seen(&rig).await;
    // 50 minutes later the page gets the cached token: no upstream call, but it is use.
    rig.advance(50 * 60);
    let (status, _) = rig.token(&cookie).await;
    assert_eq!(status, 200);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 0, "from the cache");
    let touched = last_seen(&rig).await;
    assert!(touched >= signed_in + 50 * 60, "{touched} {signed_in}");
    // Used again within the touch interval (5 minutes): the store is not written again.
    rig.advance(60);
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200);
    assert_eq!(rig.token(&cookie).await.0, 200);
    assert_eq!(last_seen(&rig).await, touched, "not rewritten inside the touch interval");
    // Past an hour since the sign-in (and its refresh), the session is alive: it was used.
    rig.advance(40 * 60);
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200, "reading the session is use too");
    let read = last_seen(&rig).await;
    assert!(read >= touched + 40 * 60);
    rig.advance(50 * 60);
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200);
    // An hour without use ends it.
    rig.advance(61 * 60);
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 401);
}

async fn forced(rig: &Rig, cookie: &str) -> serde_json::Value {
    let res = rig.post("/api/auth/token", Some(cookie), json!({"forceRefresh": true})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn forced_refreshes_inside_the_interval_make_one_upstream_call() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, signed_in) = rig.signed_in().await;
    let first = forced(&rig, &cookie).await;
    assert_ne!(first["accessToken"], signed_in["accessToken"], "the first one goes upstream");
    for _ in 0..5 {
        let again = forced(&rig, &cookie).await;
        assert_eq!(again["accessToken"], first["accessToken"], "inside the interval: the last refresh's token");
    }
    let parallel = join_all((0..5).map(|_| Box::pin(forced(&rig, &cookie))).collect()).await;
    assert!(parallel.iter().all(|t| t["accessToken"] == first["accessToken"]));
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1, "{:?}", rig.emu.calls());
    // A claims challenge is never held back.
    let claims = json!({"access_token": {"nbf": {"essential": true, "value": "1"}}}).to_string();
    let res = rig.post("/api/auth/token", Some(&cookie), json!({"claims": claims})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 2);
    // After the interval, the next forced refresh goes upstream again.
    rig.advance(31);
    let later = forced(&rig, &cookie).await;
    assert_ne!(later["accessToken"], first["accessToken"]);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 3);
}

#[tokio::test]
async fn a_logout_during_a_slow_keep_alive_refresh_stays_logged_out() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\n").await;
    let (cookie, _) = rig.signed_in().await;
    rig.advance(25 * 3600);
    let token_path = format!("/{CONTOSO}/oauth2/v2.0/token");
    let reached = format!("POST {token_path}");
    let before = rig.emu.call_count(&reached);
    // The keep-alive's refresh is held two seconds at the emulator.
    rig.emu.add_fault(graphgate_emulator::Fault {
        path: token_path,
        method: None,
        count: 1,
        kind: graphgate_emulator::FaultKind::Delay { ms: 2000 },
    });
    let state = rig.proxy.clone();
    let keepalive = tokio::spawn(async move { graphgate_proxy::keepalive::run_once(&state).await });
    // The user signs out while that refresh is in flight (it has reached the emulator).
    while rig.emu.call_count(&reached) == before {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let res = rig.post("/api/auth/logout", Some(&cookie), json!({})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    keepalive.await.unwrap();
    // The refresh's answer did not bring the session back.
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 401);
    assert_eq!(rig.token(&cookie).await.0, 401);
    let again = graphgate_proxy::keepalive::run_once(&rig.proxy).await;
    assert_eq!(again.refreshed, 0, "nothing left to refresh: {again:?}");
}
