//! Abuse limits per client address: junk code exchanges and sign-in floods reach the emulator
//! and the store only up to the configured numbers (the rest answer 429 `rate_limited`), forced
//! refreshes and sign-outs likewise, and `X-Forwarded-For` decides the client only behind a
//! trusted proxy (an IPv6 /64 counting as one client).

use serde_json::{Value, json};

use crate::support::*;

/// How many answers had each status, and whether every 429 was the catalogue's `rate_limited`.
async fn tally(responses: Vec<reqwest::Response>) -> (usize, usize) {
    let (mut limited, mut other) = (0, 0);
    for res in responses {
        if res.status() == 429 {
            assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("60"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited", "{body}");
            assert!(!body["hintZh"].as_str().unwrap().is_empty());
            limited += 1;
        } else {
            other += 1;
        }
    }
    (limited, other)
}

#[tokio::test]
async fn junk_exchanges_and_sign_in_floods_from_one_address_are_held_to_the_limits() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "sign_ins_per_minute = 10\n[limits]\nexchanges_per_minute = 5").await;
    // 200 sign-ins begun from one address: ten are kept in the store, 190 refused before it.
    let (first, cookie) = rig.begin(None).await;
    let mut states = vec![first["state"].as_str().unwrap().to_owned()];
    let body = json!({"redirectUri": REDIRECT});
    let mut refused = Vec::new();
    for _ in 1..200 {
        let res = rig.post("/api/auth/begin", Some(&cookie), body.clone()).send().await.unwrap();
        if res.status() == 200 {
            let begun: Value = res.json().await.unwrap();
            states.push(begun["state"].as_str().unwrap().to_owned());
        } else {
            refused.push(res);
        }
    }
    assert_eq!(states.len(), 10, "sign_ins_per_minute");
    assert_eq!(tally(refused).await, (190, 0));

    // 200 junk codes for those sign-ins: five reach the emulator, the rest are refused first.
    let mut answers = Vec::new();
    for i in 0..200 {
        let body = json!({"code": format!("junk-{i}"), "state": states[i % states.len()]});
        answers.push(rig.post("/api/auth/exchange", Some(&cookie), body).send().await.unwrap());
    }
    assert_eq!(tally(answers).await, (195, 5));
    assert_eq!(rig.emu.call_count("token:authorization_code"), 5, "exchanges_per_minute");

    // A minute later the address may try again.
    rig.advance(61);
    let body = json!({"code": "junk", "state": states[9]});
    let res = rig.post("/api/auth/exchange", Some(&cookie), body).send().await.unwrap();
    assert_ne!(res.status(), 429);
    assert_eq!(rig.emu.call_count("token:authorization_code"), 6);
}

#[tokio::test]
async fn forced_refreshes_and_sign_outs_are_limited_per_address() {
    let rig = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "force_refresh_interval_secs = 0\n[limits]\ntoken_refreshes_per_minute = 3\nlogouts_per_minute = 4",
    )
    .await;
    let (cookie, _) = rig.signed_in().await;
    let refreshes = rig.emu.call_count("token:refresh_token");
    let mut answers = Vec::new();
    for _ in 0..20 {
        let body = json!({"forceRefresh": true});
        answers.push(rig.post("/api/auth/token", Some(&cookie), body).send().await.unwrap());
    }
    assert_eq!(tally(answers).await, (17, 3));
    assert_eq!(rig.emu.call_count("token:refresh_token") - refreshes, 3, "token_refreshes_per_minute");
    // A token from the cache spends nothing upstream and is not limited.
    for _ in 0..10 {
        assert_eq!(rig.token(&cookie).await.0, 200);
    }
    let mut answers = Vec::new();
    for _ in 0..20 {
        answers.push(rig.post("/api/auth/logout", None, json!({})).send().await.unwrap());
    }
    assert_eq!(tally(answers).await, (16, 4), "logouts_per_minute");
}

/// Begins a sign-in as a client behind the proxy at `forwarded`; the status.
async fn begin_as(rig: &Rig, forwarded: &str) -> u16 {
    let body = json!({"redirectUri": REDIRECT});
    let res = rig.post("/api/auth/begin", None, body).header("x-forwarded-for", forwarded).send().await.unwrap();
    res.status().as_u16()
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    // Not trusted (the default): every claimed address is the one peer, 127.0.0.1.
    let direct = rig(CONTOSO, Cred::Secret(SECRET), "sign_ins_per_minute = 2").await;
    assert_eq!(begin_as(&direct, "198.51.100.1").await, 200);
    assert_eq!(begin_as(&direct, "198.51.100.2").await, 200);
    assert_eq!(begin_as(&direct, "198.51.100.3").await, 429, "a forged header changes nothing");
    drop(direct);

    let mut behind = rig(CONTOSO, Cred::Secret(SECRET), "sign_ins_per_minute = 2").await;
    behind.config_toml = behind.config_toml.replace("[server]\n", "[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n");
    behind.restart_proxy().await;
    // The right-most address that is not a trusted proxy is the client.
    for _ in 0..2 {
        assert_eq!(begin_as(&behind, "203.0.113.9, 198.51.100.1").await, 200);
    }
    assert_eq!(begin_as(&behind, "203.0.113.7, 198.51.100.1, 127.0.0.5").await, 429, "still 198.51.100.1");
    assert_eq!(begin_as(&behind, "198.51.100.2").await, 200, "another client");
    // One IPv6 /64 is one client.
    assert_eq!(begin_as(&behind, "2001:db8:0:1::1").await, 200);
    assert_eq!(begin_as(&behind, "2001:db8:0:1:ffff::2").await, 200);
    assert_eq!(begin_as(&behind, "2001:db8:0:1::3").await, 429, "the same /64");
    assert_eq!(begin_as(&behind, "2001:db8:0:2::1").await, 200, "the next /64");
}
