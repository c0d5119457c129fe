//! Settings rows rename in place: Edit swaps the row for a form with htmx (no page load),
//! Cancel swaps it back, Save renames; the account pages fit a phone (issue 10 items 12-13).

use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::{PASSWORD, spawn_app};

#[tokio::test]
async fn edit_swaps_the_row_for_a_form_and_cancel_and_save_swap_it_back() {
    let app = spawn_app().await;
    app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    diesel::RunQueryDsl::execute(diesel::sql_query("INSERT INTO tags (workspace_id, name, colour) SELECT id, 'vip', 'purple' FROM workspaces"), &mut app.conn())
        .unwrap();
    let chrome = Chrome::start().await;
    chrome.client.set_window_size(1366, 900).await.expect("resize");
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;
    chrome.goto(&format!("{}/settings/tags", app.base)).await;
    chrome.wait_for_heading("Tags").await;
    // Marks the document: a full page load would lose it.
    chrome.eval("window.stayed = true; return true;").await;
    assert_eq!(chrome.eval("return document.querySelectorAll('input[name=name]').length").await, 1, "only the new-tag field is open");
    chrome.click("tbody a.button.secondary").await;
    chrome.wait_for("tbody form.rename-form input[name=name]").await;
    assert_eq!(chrome.eval("return window.stayed === true").await, true, "swapped in place");
    assert_eq!(chrome.eval("return document.querySelector('#edit-colour-purple').checked").await, true);
    chrome.click("tbody form.rename-form a.button.secondary").await;
    // The edit form's colour swatches are chips too: wait for the form itself to go.
    let mut forms = serde_json::Value::Null;
    for _ in 0..100 {
        forms = chrome.eval("return document.querySelectorAll('form.rename-form').length").await;
        if forms == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(forms, 0, "Cancel swapped the row back");
    assert_eq!(chrome.eval("return document.querySelectorAll('tbody .chip.tag-purple').length").await, 1, "the row shows its chip again");
    assert_eq!(chrome.eval("return window.stayed === true").await, true, "still in place");
    chrome.click("tbody a.button.secondary").await;
    chrome.fill("tbody form.rename-form input[name=name]", "VIP clients").await;
    chrome.click("#edit-colour-teal").await;
    chrome.click("tbody form.rename-form button[type=submit]").await;
    chrome.wait_for_text("tbody .chip.tag-teal", "VIP clients").await;
    // The account pages at phone width: nothing scrolls sideways.
    chrome.client.set_window_size(390, 844).await.expect("resize");
    for (path, heading) in [("/account", "Your account"), ("/account/sessions", "Your sessions"), ("/settings/tags", "Tags"), ("/settings/departments", "Departments")] {
        chrome.goto(&format!("{}{path}", app.base)).await;
        chrome.wait_for_heading(heading).await;
        let seen = chrome.eval("return [window.innerWidth, document.documentElement.scrollWidth]").await;
        assert!(seen[1].as_i64().unwrap() <= seen[0].as_i64().unwrap(), "{path} scrolls sideways: {seen}");
    }
    chrome.finish().await;
}
