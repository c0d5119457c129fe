//! A client's fields as written messages use them: `{{name}}`, `{{first_name}}`,
//! `{{company}}`, `{{email}}`, `{{phone}}` (spaces inside the braces allowed), filled in by
//! campaign bodies and variables, emails and canned replies alike.

use crate::clients::model::Client;

/// The client fields a message may use.
pub const FIELDS: [&str; 5] = ["name", "first_name", "company", "email", "phone"];

/// The first word of a name ("Amara" of "Amara Okafor").
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or("")
}

/// The values of a client's fields, by [`FIELDS`] name.
pub fn values(client: &Client) -> Vec<(String, String)> {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    vec![
        ("name".into(), client.name.clone()),
        ("first_name".into(), first_name(&client.name).to_string()),
        ("company".into(), v(&client.company)),
        ("email".into(), v(&client.email)),
        ("phone".into(), v(&client.phone)),
    ]
}

/// One field's value ("" for a field it does not have).
pub fn value(client: &Client, field: &str) -> String {
    values(client).into_iter().find(|(k, _)| k == field).map(|(_, v)| v).unwrap_or_default()
}

/// `text` with each field replaced by the client's value; anything else in braces stays as
/// written.
pub fn fill(text: &str, client: &Client) -> String {
    fill_values(text, &values(client))
}

/// `text` with each `{{key}}` of `values` replaced by its value.
pub fn fill_values(text: &str, values: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| values.iter().find(|(k, _)| k == after[..end].trim()).map(|(_, v)| (end, v))) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_fill_with_spaces_in_the_braces_and_unknown_ones_stay() {
        let values = vec![("name".to_string(), "Amara Okafor".to_string()), ("first_name".to_string(), "Amara".to_string())];
        assert_eq!(fill_values("Hi {{ first_name }}, {{name}} {{nope}} {{", &values), "Hi Amara, Amara Okafor {{nope}} {{");
        assert_eq!(first_name("  Amara   Okafor "), "Amara");
        assert_eq!(first_name(""), "");
    }
}
