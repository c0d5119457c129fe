//! WhatsApp template bodies filled with their variables.

/// `body` with each `{{n}}` replaced by the value for placeholder `n`; placeholders
/// without a value stay as they are.
pub fn render(body: &str, vars: &[(String, String)]) -> String {
    let mut out = body.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// The numbered placeholders in `body` (`{{1}}`, `{{2}}`…), in order, each once.
pub fn placeholders(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            let name = rest[..end].trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) && !found.iter().any(|f: &String| f == name) {
                found.push(name.to_string());
            }
        }
    }
    found.sort_by_key(|n| n.parse::<u32>().unwrap_or(u32::MAX));
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_numbered_placeholders() {
        let vars = vec![("1".to_string(), "Amara".to_string()), ("2".to_string(), "Friday".to_string())];
        assert_eq!(super::render("Hi {{1}}, see you {{2}}. {{3}}", &vars), "Hi Amara, see you Friday. {{3}}");
        assert_eq!(super::placeholders("Hi {{2}} {{1}} {{1}} {{x}}"), vec!["1", "2"]);
    }
}
