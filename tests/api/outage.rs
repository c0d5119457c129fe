//! CHECKLIST 34: PostgreSQL restarts under the app. Requests during the outage fail fast
//! with a 503 page; once the database is back the app recovers by itself.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;
use switchboard::config::Settings;
use switchboard::db::local_cluster::{ClusterOptions, DB_NAME, LocalCluster};
use switchboard::startup::Application;

#[tokio::test]
async fn a_database_restart_gives_fast_503s_then_recovers_without_restarting_the_app() {
    let dir = std::env::temp_dir().join(format!("switchboard-test-{}-outage-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    let start = {
        let dir = dir.clone();
        move || LocalCluster::start(&dir, None, &ClusterOptions::throwaway()).expect("cluster")
    };
    let mut cluster = tokio::task::spawn_blocking(start.clone()).await.unwrap();
    let mut settings = Settings::from_lookup(|_| None).unwrap();
    settings.database_url = Some(SecretString::from(cluster.url(DB_NAME)));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = dir.join("app");
    settings.secret_key = Some(SecretString::from("outage-secret-key-".repeat(3)));
    settings.http_workers = Some(1);
    settings.pool_size = 4;
    let app = Application::build(settings, Default::default()).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (server, _resources) = app.into_parts();
    let handle = server.handle();
    tokio::spawn(server);
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/readyz")).send().await.unwrap().status(), StatusCode::OK);

    tokio::task::spawn_blocking(move || {
        cluster.stop();
        drop(cluster);
    })
    .await
    .unwrap();
    for path in ["/readyz", "/login"] {
        let asked = Instant::now();
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path} during the outage");
        assert!(asked.elapsed() < Duration::from_secs(7), "{path} answered in {:?}, not fast", asked.elapsed());
    }
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), StatusCode::OK, "the process stays up");

    let cluster = tokio::task::spawn_blocking(start).await.unwrap();
    let back = Instant::now();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    while back.elapsed() < Duration::from_secs(10) {
        status = client.get(format!("{base}/login")).send().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::OK, "recovered within 10 s of the database returning");
    drop(handle.stop(false));
    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
