//! Workspace names are labels, not keys: renaming one never tells whether another workspace
//! has that name, and the command line refuses a name that is ambiguous.

use reqwest::StatusCode;
use switchboard::authz::Role;
use switchboard::users::service::{self, NewAccount};

use crate::support::{PASSWORD, assert_redirects_to, spawn_app};

#[tokio::test]
async fn renaming_a_workspace_answers_the_same_whether_or_not_another_has_the_name() {
    let app = spawn_app().await;
    app.create_user("Beta Corp", "someone@beta.test", Role::Admin);
    let (admin, me) = app.signed_in(Role::Admin).await;
    let rename = |name: &'static str| {
        let admin = &admin;
        async move { admin.post("/settings/workspace", &[("name", name), ("time_zone", "UTC"), ("default_country", "US")]).await }
    };
    let taken = rename("beta corp").await;
    assert_redirects_to(&taken, "/settings/workspace");
    let free = rename("Nobody Has This").await;
    assert_redirects_to(&free, "/settings/workspace");
    assert_eq!(app.count(&format!("SELECT count(*) FROM workspaces WHERE id = {} AND name = 'Nobody Has This'", me.workspace_id)), 1);
    assert!(!admin.get_html("/settings/workspace").await.contains("Another workspace"));
    // Both may carry the same name.
    assert_redirects_to(&rename("Beta Corp").await, "/settings/workspace");
    assert_eq!(app.count("SELECT count(*) FROM workspaces WHERE lower(name) = 'beta corp'"), 2);
}

#[tokio::test]
async fn adding_a_user_to_an_ambiguous_workspace_name_is_refused_with_the_ids() {
    let app = spawn_app().await;
    let a = app.create_user("Acme", "a@acme.test", Role::Admin);
    app.create_user("Other", "o@other.test", Role::Admin);
    // The second workspace takes the same name.
    let owner = app.browser();
    assert_redirects_to(&owner.login("o@other.test", PASSWORD).await, "/");
    let r = owner.post("/settings/workspace", &[("name", "ACME"), ("time_zone", "UTC"), ("default_country", "US")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let account = NewAccount {
        workspace: "acme".into(),
        email: "new@acme.test".into(),
        name: "New".into(),
        role: Role::Agent,
        password_hash: "!invited".into(),
    };
    let err = service::create_in_workspace(&mut app.conn(), &account, None, None).unwrap_err().to_string();
    assert!(err.contains("2 workspaces") && err.contains(&a.workspace_id.to_string()), "{err}");
    assert_eq!(app.count("SELECT count(*) FROM users WHERE email = 'new@acme.test'"), 0);
}
