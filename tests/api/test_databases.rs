//! Each test's database is dropped when the test ends (issue 21), so a run does not leave
//! hundreds of them in the test cluster: the last app on a database drops it `WITH (FORCE)`
//! (the app's own sessions do not stand in the way), also when the test panics, and two apps
//! on one database share it until both are gone.

use reqwest::StatusCode;
use switchboard::authz::Role;

use crate::support::{TestApp, database_exists, spawn_app, spawn_app_on};

/// Sessions on the app's database other than the one asking.
fn other_sessions(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
}

#[tokio::test]
async fn a_test_database_is_dropped_with_its_app_even_with_sessions_open() {
    let app = spawn_app().await;
    let name = app.database.name.clone();
    assert!(database_exists(&name));
    // A connection in the middle of a transaction, besides the app's pool and listeners.
    let mut held = app.conn();
    diesel::connection::SimpleConnection::batch_execute(&mut *held, "BEGIN; SELECT count(*) FROM users;").unwrap();
    assert!(other_sessions(&app) >= 1, "the app holds sessions on its database");

    drop(app);

    assert!(!database_exists(&name), "the database {name} is left behind");
    drop(held);
}

#[tokio::test]
async fn two_apps_on_one_database_drop_it_when_the_last_one_goes() {
    let first = spawn_app().await;
    let second = spawn_app_on(&first.database).await;
    let name = first.database.name.clone();
    assert_eq!(second.database.name, name);

    drop(first);

    assert!(database_exists(&name), "the second app still uses {name}");
    let (browser, _) = second.signed_in(Role::Admin).await;
    assert_eq!(browser.get("/clients").await.status(), StatusCode::OK);

    drop(second);

    assert!(!database_exists(&name), "the database {name} is left behind");
}

#[test]
fn a_panicking_test_still_drops_its_database() {
    let (tx, rx) = std::sync::mpsc::channel();
    // A test body as `#[tokio::test]` runs it, failing after its app is up.
    let failed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = spawn_app().await;
            tx.send(app.database.name.clone()).unwrap();
            panic!("a failing test (on purpose)");
        })
    })
    .join();

    assert!(failed.is_err(), "the test body panicked");
    let name = rx.recv().unwrap();
    assert!(!database_exists(&name), "the database {name} is left behind");
}
