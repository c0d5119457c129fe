//! The emails Switchboard sends, each rendered twice from Askama templates: plain text and
//! HTML (escaped). Links are absolute, built from the public base URL.

use askama::Template;

use crate::email::Email;

pub struct ReminderItem {
    pub client: String,
    pub due: String,
    pub notes: String,
    pub overdue: bool,
}

macro_rules! email_templates {
    ($txt:ident, $html:ident, $txt_path:literal, $html_path:literal, $data:ty) => {
        #[derive(Template)]
        #[template(path = $txt_path)]
        struct $txt<'a> {
            m: &'a $data,
        }
        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a $data,
        }
    };
}

pub struct Reset {
    pub name: String,
    pub link: String,
}
email_templates!(ResetTxt, ResetHtml, "emails/reset.txt", "emails/reset.html", Reset);

/// Confirming a new address for one's account (sent to the new address).
pub struct EmailChange {
    pub name: String,
    pub link: String,
}
email_templates!(EmailChangeTxt, EmailChangeHtml, "emails/email_change.txt", "emails/email_change.html", EmailChange);

pub struct Invite {
    pub inviter: String,
    pub workspace: String,
    pub link: String,
}
email_templates!(InviteTxt, InviteHtml, "emails/invite.txt", "emails/invite.html", Invite);

pub struct Reminder {
    pub name: String,
    pub items: Vec<ReminderItem>,
    pub overdue: usize,
    pub today: usize,
    pub link: String,
}
email_templates!(ReminderTxt, ReminderHtml, "emails/reminder.txt", "emails/reminder.html", Reminder);

pub struct Test {
    pub workspace: String,
}
email_templates!(TestTxt, TestHtml, "emails/test.txt", "emails/test.html", Test);

fn email(to: &str, subject: String, text: askama::Result<String>, html: askama::Result<String>) -> askama::Result<Email> {
    Ok(Email { to: to.to_string(), subject, text: text?, html: html? })
}

pub fn reset(to: &str, m: &Reset) -> askama::Result<Email> {
    email(to, "Reset your Switchboard password".into(), ResetTxt { m }.render(), ResetHtml { m }.render())
}

pub fn email_change(to: &str, m: &EmailChange) -> askama::Result<Email> {
    email(to, "Confirm your new Switchboard email address".into(), EmailChangeTxt { m }.render(), EmailChangeHtml { m }.render())
}

pub fn invite(to: &str, m: &Invite) -> askama::Result<Email> {
    email(to, format!("{} invited you to {} on Switchboard", m.inviter, m.workspace), InviteTxt { m }.render(), InviteHtml { m }.render())
}

pub fn reminder(to: &str, m: &Reminder) -> askama::Result<Email> {
    let subject = match (m.overdue, m.today) {
        (0, n) => format!("{n} follow-up{} due today", if n == 1 { "" } else { "s" }),
        (o, 0) => format!("{o} overdue follow-up{}", if o == 1 { "" } else { "s" }),
        (o, n) => format!("{n} follow-up{} due today, {o} overdue", if n == 1 { "" } else { "s" }),
    };
    email(to, subject, ReminderTxt { m }.render(), ReminderHtml { m }.render())
}

pub fn test(to: &str, m: &Test) -> askama::Result<Email> {
    email(to, "Switchboard test email".into(), TestTxt { m }.render(), TestHtml { m }.render())
}
