//! WhatsApp flows: a saved sequence of approved templates in which each quick-reply button
//! leads to the next step or ends the flow. Stored as `whatsapp_flows.steps`:
//! `[{"key": "s1", "template_id": 7, "next": {"yes": "s2", "no": null}}, …]`; the first
//! step starts the flow, and `next` maps a button's id to a step's key (`null`: the end).
//!
//! A flow can be saved half-built; [`problems`] says what stops it being sent: a button
//! that leads to a step that does not exist (or is not mapped), a template that is not
//! approved or gone, a step nothing leads to, or a loop with no way out (a step from which
//! no button path reaches an end).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::whatsapp_flows;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub key: String,
    pub template_id: i64,
    /// Button id → the next step's key (`None`: the flow ends there).
    #[serde(default)]
    pub next: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = whatsapp_flows)]
pub struct Flow {
    pub workspace_id: i64,
    pub id: i64,
    pub name: String,
    pub steps: serde_json::Value,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Flow {
    pub fn steps(&self) -> Vec<Step> {
        serde_json::from_value(self.steps.clone()).unwrap_or_default()
    }
}

/// What validation needs of a template: whether it may be sent, its name and its
/// quick-reply buttons (id, title).
#[derive(Clone, Debug)]
pub struct TemplateInfo {
    pub name: String,
    pub approved: bool,
    pub buttons: Vec<(String, String)>,
}

/// Why the flow cannot be sent yet; empty when it can.
pub fn problems(steps: &[Step], templates: &HashMap<i64, TemplateInfo>) -> Vec<String> {
    let mut out = Vec::new();
    if steps.is_empty() {
        out.push("The flow has no steps.".to_string());
        return out;
    }
    let keys: HashSet<&str> = steps.iter().map(|s| s.key.as_str()).collect();
    let by_key: HashMap<&str, &Step> = steps.iter().map(|s| (s.key.as_str(), s)).collect();
    // Each step's exits: the steps its buttons lead to, and whether one of them ends.
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut ends: HashSet<&str> = HashSet::new();
    for (i, step) in steps.iter().enumerate() {
        let label = format!("Step {}", i + 1);
        let Some(template) = templates.get(&step.template_id) else {
            out.push(format!("{label} uses a template that no longer exists."));
            continue;
        };
        if !template.approved {
            out.push(format!("{label} uses “{}”, which is not approved by WhatsApp.", template.name));
        }
        if template.buttons.is_empty() {
            ends.insert(step.key.as_str());
        }
        for (id, title) in &template.buttons {
            match step.next.get(id) {
                None => out.push(format!("{label}: the button “{title}” does not say where it leads.")),
                Some(None) => {
                    ends.insert(step.key.as_str());
                }
                Some(Some(next)) if keys.contains(next.as_str()) => edges.entry(step.key.as_str()).or_default().push(next.as_str()),
                Some(Some(_)) => out.push(format!("{label}: the button “{title}” leads to a step that does not exist.")),
            }
        }
    }
    // Reachable from the first step.
    let mut reachable: HashSet<&str> = HashSet::new();
    let mut stack = vec![steps[0].key.as_str()];
    while let Some(key) = stack.pop() {
        if reachable.insert(key) {
            stack.extend(edges.get(key).into_iter().flatten().copied());
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if !reachable.contains(step.key.as_str()) {
            out.push(format!("Step {} is never reached: no button leads to it.", i + 1));
        }
    }
    // Steps from which some button path ends: grow from the steps that end, backwards.
    let mut can_end: HashSet<&str> = ends.clone();
    loop {
        let before = can_end.len();
        for (from, tos) in &edges {
            if tos.iter().any(|t| can_end.contains(t)) {
                can_end.insert(from);
            }
        }
        if can_end.len() == before {
            break;
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if reachable.contains(step.key.as_str()) && !can_end.contains(step.key.as_str()) && by_key.contains_key(step.key.as_str()) {
            out.push(format!("Step {} is in a loop with no way out: no button path from it ends the flow.", i + 1));
        }
    }
    out
}

/// A key for a new step: `s` and one more than the largest number in use.
pub fn next_key(steps: &[Step]) -> String {
    let n = steps.iter().filter_map(|s| s.key.strip_prefix('s').and_then(|n| n.parse::<u32>().ok())).max().unwrap_or(0);
    format!("s{}", n + 1)
}

/// A flow as a batch keeps it (`campaign_batches.flow_snapshot`): copied when the batch is
/// made, with each step's template name and quick-reply buttons, so that later edits of the
/// flow or its templates' buttons change nothing for a batch already sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub flow_id: i64,
    pub name: String,
    pub steps: Vec<SnapshotStep>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotStep {
    pub key: String,
    pub template_id: i64,
    pub template_name: String,
    /// The template's quick-reply buttons: (id, title).
    pub buttons: Vec<(String, String)>,
    pub next: BTreeMap<String, Option<String>>,
}

impl Snapshot {
    pub fn parse(value: &serde_json::Value) -> Option<Snapshot> {
        serde_json::from_value(value.clone()).ok()
    }

    pub fn first(&self) -> Option<&SnapshotStep> {
        self.steps.first()
    }

    pub fn step(&self, key: &str) -> Option<&SnapshotStep> {
        self.steps.iter().find(|s| s.key == key)
    }
}

impl SnapshotStep {
    /// The button a reply pressed, matched by its payload (the button's id), else by its
    /// text (the button's title, any case): (button id, the step it leads to or `None`).
    pub fn button(&self, payload: Option<&str>, text: Option<&str>) -> Option<(&str, Option<&str>)> {
        let by_payload = payload.map(str::trim).filter(|p| !p.is_empty()).and_then(|p| self.buttons.iter().find(|(id, _)| id == p));
        let by_text = || text.map(str::trim).filter(|t| !t.is_empty()).and_then(|t| self.buttons.iter().find(|(_, title)| title.trim().eq_ignore_ascii_case(t)));
        let (id, _) = by_payload.or_else(by_text)?;
        let next = self.next.get(id).and_then(|n| n.as_deref());
        Some((id.as_str(), next))
    }
}

/// A flow that cannot be sent yet: its name and its first problem (`problems`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The flow “{flow}” cannot be sent yet: {problem}")]
pub struct NotSendable {
    pub flow: String,
    pub problem: String,
}

/// The snapshot of a flow that may be sent: it has no problems, and every step's template
/// is approved. `Err` says why not.
pub fn snapshot(flow: &Flow, templates: &HashMap<i64, TemplateInfo>) -> Result<Snapshot, NotSendable> {
    let steps = flow.steps();
    let found = problems(&steps, templates);
    if let Some(first) = found.into_iter().next() {
        return Err(NotSendable { flow: flow.name.clone(), problem: first });
    }
    let steps = steps
        .into_iter()
        .map(|s| {
            let t = &templates[&s.template_id];
            SnapshotStep { template_name: t.name.clone(), buttons: t.buttons.clone(), key: s.key, template_id: s.template_id, next: s.next }
        })
        .collect();
    Ok(Snapshot { flow_id: flow.id, name: flow.name.clone(), steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(key: &str, template_id: i64, next: &[(&str, Option<&str>)]) -> Step {
        Step { key: key.into(), template_id, next: next.iter().map(|(b, n)| (b.to_string(), n.map(str::to_string))).collect() }
    }

    fn templates() -> HashMap<i64, TemplateInfo> {
        let yes_no = vec![("yes".to_string(), "Yes".to_string()), ("no".to_string(), "No".to_string())];
        HashMap::from([
            (1, TemplateInfo { name: "ask".into(), approved: true, buttons: yes_no.clone() }),
            (2, TemplateInfo { name: "thanks".into(), approved: true, buttons: vec![] }),
            (3, TemplateInfo { name: "promo".into(), approved: false, buttons: vec![] }),
            (4, TemplateInfo { name: "again".into(), approved: true, buttons: yes_no }),
        ])
    }

    #[test]
    fn a_flow_whose_every_button_leads_somewhere_and_ends_is_ready() {
        let steps = vec![step("s1", 1, &[("yes", Some("s2")), ("no", None)]), step("s2", 2, &[])];
        assert_eq!(problems(&steps, &templates()), Vec::<String>::new());
        // A loop is fine while it has a way out.
        let looping = vec![step("s1", 1, &[("yes", Some("s2")), ("no", None)]), step("s2", 4, &[("yes", Some("s1")), ("no", Some("s1"))])];
        assert_eq!(problems(&looping, &templates()), Vec::<String>::new());
    }

    #[test]
    fn each_problem_is_named() {
        let t = templates();
        assert_eq!(problems(&[], &t), vec!["The flow has no steps."]);
        let unmapped = vec![step("s1", 1, &[("yes", None)])];
        assert!(problems(&unmapped, &t)[0].contains("“No” does not say where it leads"));
        let dangling = vec![step("s1", 1, &[("yes", Some("s9")), ("no", None)])];
        assert!(problems(&dangling, &t)[0].contains("leads to a step that does not exist"));
        let unapproved = vec![step("s1", 3, &[])];
        assert!(problems(&unapproved, &t)[0].contains("“promo”, which is not approved"));
        let gone = vec![step("s1", 99, &[])];
        assert!(problems(&gone, &t)[0].contains("no longer exists"));
        let orphan = vec![step("s1", 2, &[]), step("s2", 2, &[])];
        assert_eq!(problems(&orphan, &t), vec!["Step 2 is never reached: no button leads to it."]);
        let trap = vec![step("s1", 1, &[("yes", Some("s2")), ("no", None)]), step("s2", 4, &[("yes", Some("s3")), ("no", Some("s3"))]), step("s3", 4, &[("yes", Some("s2")), ("no", Some("s2"))])];
        let found = problems(&trap, &t);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|p| p.contains("loop with no way out")));
        assert_eq!(next_key(&trap), "s4");
    }

    #[test]
    fn a_snapshot_keeps_the_buttons_and_finds_the_one_pressed() {
        let flow = Flow {
            workspace_id: 1,
            id: 9,
            name: "Spring".into(),
            steps: serde_json::to_value(vec![step("s1", 1, &[("yes", Some("s2")), ("no", None)]), step("s2", 2, &[])]).unwrap(),
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let snap = snapshot(&flow, &templates()).unwrap();
        assert_eq!(Snapshot::parse(&serde_json::to_value(&snap).unwrap()), Some(snap.clone()));
        let first = snap.first().unwrap();
        assert_eq!((first.key.as_str(), first.template_name.as_str()), ("s1", "ask"));
        assert_eq!(first.button(Some("yes"), Some("whatever")), Some(("yes", Some("s2"))));
        assert_eq!(first.button(None, Some(" no ")), Some(("no", None)), "by the title when there is no payload");
        assert_eq!(first.button(Some("maybe"), None), None);
        let broken = Flow { steps: serde_json::to_value(vec![step("s1", 3, &[])]).unwrap(), ..flow };
        assert!(snapshot(&broken, &templates()).unwrap_err().to_string().contains("which is not approved"));
    }
}
