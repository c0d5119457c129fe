//! Sign-in abuse: nobody can lock a colleague out of sign-in or password reset, every attempt
//! costs exactly one argon2 verification, and the password change is throttled like sign-in.

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use switchboard::users::password::{self, VerifyCounter};
use switchboard::auth::{recovery, throttle};
use switchboard::authz::Role;

use crate::client_ip::{behind_proxy, browser_via};
use crate::support::{PASSWORD, assert_redirects_to, spawn_app_with};

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_attacker_failing_on_an_account_cannot_lock_its_owner_out() {
    let app = behind_proxy().await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let attacker = browser_via(&app, "203.0.113.66");
    for attempt in 1..=throttle::PAIR_MAX_FAILURES {
        let r = attacker.login("ann@acme.test", "guess").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    let r = attacker.login("ann@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the attacking address is stopped, even with the right password");
    assert!(retry_after(&r) <= 15 * 60);
    // Ann, from her own address, is not.
    let ann = browser_via(&app, "198.51.100.7");
    assert_redirects_to(&ann.login("ann@acme.test", PASSWORD).await, "/");
    // Her success does not reset the attacker's count.
    assert_eq!(attacker.login("ann@acme.test", "guess").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_distributed_attack_only_slows_down_the_addresses_that_keep_failing() {
    let app = behind_proxy().await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let bots: Vec<_> = (1..=4).map(|i| browser_via(&app, &format!("203.0.113.{i}"))).collect();
    for bot in &bots {
        for _ in 0..throttle::SLOW_AFTER_OWN_FAILURES {
            assert_eq!(bot.login("ann@acme.test", "guess").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    assert!(bots.len() as i64 * throttle::SLOW_AFTER_OWN_FAILURES >= throttle::ACCOUNT_SLOW_AFTER);
    // The account is under attack: the repeat offenders share one attempt per SLOW_LANE_SECS.
    assert_eq!(bots[0].login("ann@acme.test", "guess").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = bots[1].login("ann@acme.test", "guess").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=throttle::SLOW_LANE_SECS as u64).contains(&retry_after(&r)), "{}", retry_after(&r));
    assert_eq!(bots[2].login("ann@acme.test", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, from an address that has not failed, signs in at once.
    let ann = browser_via(&app, "198.51.100.7");
    assert_redirects_to(&ann.login("ann@acme.test", PASSWORD).await, "/");
    // A slow-down, not a lockout: the lane opens again.
    app.clock.advance(chrono::Duration::seconds(throttle::SLOW_LANE_SECS + 1));
    assert_eq!(bots[1].login("ann@acme.test", "guess").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_sign_in_attempt_runs_exactly_one_argon2_verification() {
    let counter = VerifyCounter::default();
    let hook = counter.clone();
    let app = spawn_app_with(move |s| s.password_verifications = hook).await;
    let known = app.create_user("Acme", "ann@acme.test", Role::Admin);
    let invited = app.create_user("Acme", "invited@acme.test", Role::Agent);
    let gone = app.create_user("Acme", "gone@acme.test", Role::Agent);
    let twice_a = app.create_user("Acme", "both@acme.test", Role::Agent);
    let twice_b = app.create_user("Beta", "both@acme.test", Role::Agent);
    let beta_hash = password::hash("the beta password").unwrap();
    let sql = [
        format!("UPDATE users SET password_hash = '!invited' WHERE id = {}", invited.id),
        format!("UPDATE users SET active = false WHERE id = {}", gone.id),
        format!("UPDATE users SET password_hash = '{beta_hash}' WHERE workspace_id = {} AND id = {}", twice_b.workspace_id, twice_b.id),
    ];
    for statement in sql {
        diesel::sql_query(statement).execute(&mut app.conn()).unwrap();
    }
    let cases: [(&str, &str, &str, StatusCode); 9] = [
        ("unknown email", "nobody@acme.test", "whatever password", StatusCode::UNPROCESSABLE_ENTITY),
        ("wrong password", &known.email, "whatever password", StatusCode::UNPROCESSABLE_ENTITY),
        ("right password", &known.email, PASSWORD, StatusCode::SEE_OTHER),
        ("invited, no password yet", &invited.email, "!invited", StatusCode::UNPROCESSABLE_ENTITY),
        ("inactive user", &gone.email, PASSWORD, StatusCode::UNPROCESSABLE_ENTITY),
        ("email in two workspaces, wrong password", "both@acme.test", "whatever password", StatusCode::UNPROCESSABLE_ENTITY),
        ("email in two workspaces, the older one's password", "both@acme.test", PASSWORD, StatusCode::SEE_OTHER),
        ("email in two workspaces, the newer one's password", "both@acme.test", "the beta password", StatusCode::UNPROCESSABLE_ENTITY),
        ("email in two workspaces, unknown workspace named", "both@acme.test", PASSWORD, StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (i, (what, email, password, expected)) in cases.into_iter().enumerate() {
        let before = counter.get();
        let b = app.browser();
        let r = if i == 8 {
            b.post("/login", &[("email", email), ("password", password), ("workspace", "Gamma")]).await
        } else {
            b.login(email, password).await
        };
        assert_eq!(r.status(), expected, "{what}");
        assert_eq!(counter.get() - before, 1, "{what}: exactly one argon2 verification");
    }
    // The workspace field picks the other account, still with one verification.
    let before = counter.get();
    let b = app.browser();
    let r = b.post("/login", &[("email", "BOTH@acme.test"), ("password", "the beta password"), ("workspace", "beta")]).await;
    assert_redirects_to(&r, "/");
    assert_eq!(counter.get() - before, 1);
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM sessions WHERE workspace_id = {} AND user_id = {}", twice_b.workspace_id, twice_b.id)),
        1,
        "signed in to Beta"
    );
    assert_eq!(app.count(&format!("SELECT count(*) FROM sessions WHERE user_id = {} AND workspace_id = {}", twice_a.id, twice_a.workspace_id)), 1);
}

#[tokio::test]
async fn changing_the_password_is_throttled_like_sign_in() {
    let counter = VerifyCounter::default();
    let hook = counter.clone();
    let app = spawn_app_with(move |s| s.password_verifications = hook).await;
    let (b, me) = app.signed_in(Role::Agent).await;
    let change = |current: &'static str| {
        let b = &b;
        async move {
            b.post("/account/password", &[("current_password", current), ("new_password", "another good password"), ("confirm_password", "another good password")])
                .await
        }
    };
    for attempt in 1..=throttle::PAIR_MAX_FAILURES {
        assert_eq!(change("not my password").await.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {attempt}");
    }
    let before = counter.get();
    let r = change(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) > 0);
    assert_eq!(counter.get(), before, "no verification while throttled");
    let unchanged = app.count(&format!("SELECT count(*) FROM users WHERE id = {} AND password_hash = '{}'", me.id, me.password_hash));
    assert_eq!(unchanged, 1, "the password did not change");
    // The guesses counted against sign-in from this address too.
    assert_eq!(app.browser().login(&me.email, PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(chrono::Duration::minutes(throttle::WINDOW_MINUTES + 1));
    // The session is still alive (idle time is counted from the last request).
    let r = change(PASSWORD).await;
    assert_redirects_to(&r, "/account/sessions");
}

fn reset_tokens(app: &crate::support::TestApp, user_id: i64) -> i64 {
    app.count(&format!("SELECT count(*) FROM auth_tokens WHERE purpose = 'reset' AND user_id = {user_id}"))
}

#[tokio::test]
async fn reset_requests_by_others_do_not_use_up_the_owners() {
    let app = behind_proxy().await;
    let ann = app.create_user("Acme", "ann@acme.test", Role::Agent);
    let attacker = browser_via(&app, "203.0.113.66");
    for i in 0..recovery::PER_PAIR {
        assert_eq!(attacker.post("/password/forgot", &[("email", "ann@acme.test")]).await.status(), StatusCode::OK, "request {i}");
    }
    let r = attacker.post("/password/forgot", &[("email", "ann@acme.test")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reset_tokens(&app, ann.id), recovery::PER_PAIR);
    // Ann asks from her own address and gets her email.
    let own = browser_via(&app, "198.51.100.7");
    assert_eq!(own.post("/password/forgot", &[("email", "ann@acme.test")]).await.status(), StatusCode::OK);
    assert_eq!(reset_tokens(&app, ann.id), recovery::PER_PAIR + 1);
}

#[tokio::test]
async fn many_addresses_asking_for_one_account_are_slowed_down_and_capped() {
    let app = behind_proxy().await;
    let ann = app.create_user("Acme", "ann@acme.test", Role::Agent);
    let forgot = |ip: String| {
        let b = browser_via(&app, &ip);
        async move { b.post("/password/forgot", &[("email", "ann@acme.test")]).await.status() }
    };
    for i in 0..recovery::PER_EMAIL {
        assert_eq!(forgot(format!("203.0.113.{i}")).await, StatusCode::OK);
    }
    // The account has had its share: an address that already asked is refused...
    assert_eq!(forgot("203.0.113.0".to_string()).await, StatusCode::TOO_MANY_REQUESTS);
    // ...a new one is not.
    assert_eq!(forgot("198.51.100.7".to_string()).await, StatusCode::OK);
    assert_eq!(reset_tokens(&app, ann.id), recovery::PER_EMAIL + 1);
    // Past the ceiling the answer is the same, but no more mail goes out.
    for i in recovery::PER_EMAIL + 1..recovery::EMAIL_CEILING + 5 {
        assert_eq!(forgot(format!("192.0.2.{i}")).await, StatusCode::OK);
    }
    assert_eq!(reset_tokens(&app, ann.id), recovery::EMAIL_CEILING);
}
