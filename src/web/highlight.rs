//! A search term marked in a text: the text in parts, each a match of the term (any case) or
//! not, for a template to put the matches in `<mark>` (each part escaped as usual); and a
//! one-line snippet around the first match, for a list.

/// Whether `term` (already lower-cased, as chars) starts at `chars[at..]`, any case.
fn matches_at(chars: &[char], at: usize, term: &[char]) -> bool {
    at + term.len() <= chars.len() && chars[at..at + term.len()].iter().zip(term).all(|(c, t)| c.to_lowercase().eq(t.to_lowercase()))
}

/// `text` in parts: `(part, is_match)`, in order; one unmarked part when `term` is empty or
/// absent.
pub fn parts(text: &str, term: &str) -> Vec<(String, bool)> {
    let term: Vec<char> = term.trim().chars().collect();
    let chars: Vec<char> = text.chars().collect();
    if term.is_empty() {
        return vec![(text.to_string(), false)];
    }
    let (mut out, mut plain, mut at) = (Vec::new(), String::new(), 0);
    while at < chars.len() {
        if matches_at(&chars, at, &term) {
            if !plain.is_empty() {
                out.push((std::mem::take(&mut plain), false));
            }
            out.push((chars[at..at + term.len()].iter().collect(), true));
            at += term.len();
        } else {
            plain.push(chars[at]);
            at += 1;
        }
    }
    if !plain.is_empty() || out.is_empty() {
        out.push((plain, false));
    }
    out
}

/// `text` on one line, at most about `width` characters around the first match of `term`
/// (with "…" where it was cut), or its start when the term is not in it.
pub fn snippet(text: &str, term: &str, width: usize) -> String {
    let chars: Vec<char> = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect();
    if chars.len() <= width {
        return chars.into_iter().collect();
    }
    let needle: Vec<char> = term.trim().chars().collect();
    let first = (!needle.is_empty()).then(|| (0..chars.len()).find(|&i| matches_at(&chars, i, &needle))).flatten().unwrap_or(0);
    let start = first.saturating_sub(width / 3).min(chars.len().saturating_sub(width));
    let end = (start + width).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_match_in_any_case_is_a_part_of_its_own() {
        assert_eq!(parts("Refund the REFUND, refunded", "refund"), vec![
            ("Refund".to_string(), true),
            (" the ".to_string(), false),
            ("REFUND".to_string(), true),
            (", ".to_string(), false),
            ("refund".to_string(), true),
            ("ed".to_string(), false),
        ]);
        assert_eq!(parts("nothing here", "refund"), vec![("nothing here".to_string(), false)]);
        assert_eq!(parts("anything", " "), vec![("anything".to_string(), false)]);
        assert_eq!(parts("", "x"), vec![(String::new(), false)]);
        assert_eq!(parts("İstanbul straße", "STRASSE"), vec![("İstanbul straße".to_string(), false)], "no case folding beyond lower-casing");
    }

    #[test]
    fn a_snippet_shows_the_match_with_what_surrounds_it() {
        let text = format!("{} the parcel arrived broken {}", "a".repeat(100), "b".repeat(100));
        let s = snippet(&text, "Broken", 40);
        assert!(s.starts_with('…') && s.ends_with('…') && s.contains("broken"), "{s}");
        assert_eq!(snippet("short\n text", "x", 40), "short text");
        assert!(snippet(&"x".repeat(100), "zzz", 10).starts_with("xxxxxxxxxx…"));
    }
}
