//! The session store failing under the proxy: a full database (SQLite's `max_page_count`, and a
//! small tmpfs filled up) answers 503 `store_unavailable` and recovers when space returns, the
//! database intact; a file that is not a database stops start-up and `check`, naming the file.

use crate::process;
use crate::support::*;

/// Signs in until the store refuses; returns the sessions made and the refusal.
async fn sign_in_until_full(rig: &Rig) -> (Vec<String>, serde_json::Value) {
    let mut cookies = Vec::new();
    for _ in 0..500 {
        // Beginning a sign-in writes to the store too.
        let begin = serde_json::json!({"redirectUri": REDIRECT, "scopes": ["User.Read"]});
        let res = rig.post("/api/auth/begin", None, begin).send().await.unwrap();
        if res.status() != 200 {
            return (cookies, res.json().await.unwrap());
        }
        let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
        let (status, cookie, body) = rig.exchange(&code, &state, &sign_in).await;
        match status {
            200 => cookies.push(cookie.unwrap()),
            _ => return (cookies, body),
        }
    }
    panic!("the store never filled");
}

fn integrity(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap()
}

#[tokio::test]
async fn a_full_database_answers_503_and_recovers() {
    // A bigger padding per record fills the few pages faster.
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "sign_ins_per_minute = 10000\nsqlite_max_page_count = 12\n").await;
    let (cookies, refusal) = sign_in_until_full(&rig).await;
    assert!(!cookies.is_empty(), "some sessions fit");
    assert_eq!(refusal["error"], "store_unavailable", "{refusal}");
    assert_eq!(refusal["retryable"], true, "{refusal}");
    // The sessions already stored still answer.
    for cookie in &cookies {
        assert_eq!(rig.token(cookie).await.0, 200);
    }
    // Space returns: sessions signed out free pages; a new sign-in works again.
    for cookie in &cookies[..cookies.len() / 2] {
        let res = rig.post("/api/auth/logout", Some(cookie), serde_json::json!({})).send().await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    rig.signed_in().await;
    for cookie in &cookies[cookies.len() / 2..] {
        assert_eq!(rig.token(cookie).await.0, 200);
    }
    assert_eq!(integrity(&rig.scratch.0.join("sessions.db")), "ok");
}

#[allow(clippy::print_stdout, reason = "a skipped test says so in its output")]
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIPPED: cannot mount a tmpfs at {} (not root, or no mount permission)", dir.display());
    }
    ok
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        // Lazily: the proxy of the test may still hold the database open.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_when_space_returns() {
    let scratch = Scratch::new();
    let disk = scratch.0.join("disk");
    if !mount_tmpfs(&disk, "512k") {
        return;
    }
    let _unmount = Unmount(disk.clone());
    let db = disk.join("sessions.db");
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "sign_ins_per_minute = 10000\n").await;
    rig.config_toml = rig.config_toml.replace(&format!("{:?}", rig.scratch.0.join("sessions.db")), &format!("{db:?}"));
    rig.restart_proxy().await;
    let (first, _) = rig.signed_in().await;
    // Fill the disk with a file beside the database.
    let ballast = disk.join("ballast");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let (cookies, refusal) = sign_in_until_full(&rig).await;
    assert_eq!(refusal["error"], "store_unavailable", "after {} sessions: {refusal}", cookies.len());
    assert_eq!(rig.token(&first).await.0, 200, "a stored session still answers");
    // Space returns.
    std::fs::remove_file(&ballast).unwrap();
    let (again, _) = rig.signed_in().await;
    assert_eq!(rig.token(&again).await.0, 200);
    assert_eq!(rig.token(&first).await.0, 200);
    for cookie in &cookies {
        assert_eq!(rig.token(cookie).await.0, 200);
    }
    assert_eq!(integrity(&db), "ok");
}

/// Starts the binary, and runs `check`, on a configuration whose database is `name` in the rig's
/// scratch directory (made by `make` first): both must refuse, naming the file and saying `why`.
/// Returns the rig (which owns the directory) and the database's path.
async fn refused_naming_the_database(
    name: &str,
    make: impl FnOnce(&std::path::Path),
    why: &str,
) -> (Rig, std::path::PathBuf) {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let db = rig.scratch.0.join(name);
    make(&db);
    let toml = process::config_for_process(&rig.config_toml, name);
    let config = rig.scratch.0.join("refused.toml");
    std::fs::write(&config, &toml).unwrap();
    // Started as a process that must stop by itself; one that serves instead is stopped and fails.
    let mut proxy = process::spawn_with(&config);
    let deadline = std::time::Instant::now() + process::PATIENCE;
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "it started on {}:\n{}", db.display(), proxy.lines().join("\n"));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(!status.success());
    // Its last words may still be in the pipe when it has exited.
    let said = proxy.wait_for_line(&db.display().to_string()).await;
    assert!(said.contains(why), "{said}");
    let (passed, report) = process::check(&config);
    assert!(!passed);
    assert!(report.contains(&db.display().to_string()) && report.contains(why), "{report}");
    (rig, db)
}

#[tokio::test]
async fn a_database_file_of_garbage_stops_start_up_and_check_naming_it() {
    let garbage = |db: &std::path::Path| std::fs::write(db, [0x5a_u8; 8192]).unwrap();
    let (_rig, db) = refused_naming_the_database("garbage.db", garbage, "not a database").await;
    assert_eq!(std::fs::read(&db).unwrap(), vec![0x5a_u8; 8192], "the file is left as it was");
}

/// A database that cannot be read (a directory where the file should be: file permissions do not
/// stop root, who runs the tests here).
#[tokio::test]
async fn an_unreadable_database_stops_start_up_and_check_naming_it() {
    let directory = |db: &std::path::Path| std::fs::create_dir(db).unwrap();
    let (_rig, db) = refused_naming_the_database("unreadable.db", directory, "could not open the database file").await;
    assert!(db.is_dir(), "left as it was");
}

/// A database whose header is sound but one of whose pages is damaged: found at start-up (SQLite's
/// `quick_check`), not by a user's request later.
#[tokio::test]
async fn a_damaged_page_stops_start_up_and_check_naming_the_file() {
    let damaged = |db: &std::path::Path| {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        for _ in 0..200 {
            conn.execute("INSERT INTO t VALUES (randomblob(1000))", []).unwrap();
        }
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let page = usize::try_from(page).unwrap();
        drop(conn);
        let mut bytes = std::fs::read(db).unwrap();
        bytes[2 * page..3 * page].fill(0x5a);
        std::fs::write(db, bytes).unwrap();
    };
    let (_rig, db) = refused_naming_the_database("damaged.db", damaged, "damaged").await;
    assert!(db.is_file());
}
