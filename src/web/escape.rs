//! The escaper of the templates that replaced HTML written by hand in Rust strings (issue 21
//! part 3): the message previews, the SMS segment counter and campaign emails. It escapes the
//! same five characters as Askama's `Html`, spelled as those fragments always were (`&lt;`,
//! `&amp;`, `&quot;`, `&#x27;` rather than `&#60;`, `&#38;`, `&#34;`, `&#39;`), so what they
//! render stays byte for byte what it was. `askama.toml` names it `named-html`; a template
//! picks it with `escape = "named-html"`.

use std::fmt::{self, Write};

use askama::filters::Escaper;

#[derive(Clone, Copy, Debug, Default)]
pub struct NamedEntities;

impl Escaper for NamedEntities {
    fn write_escaped_str<W: Write>(&self, mut dest: W, text: &str) -> fmt::Result {
        let mut from = 0;
        for (at, c) in text.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#x27;",
                _ => continue,
            };
            dest.write_str(&text[from..at])?;
            dest.write_str(entity)?;
            from = at + 1;
        }
        dest.write_str(&text[from..])
    }
}

/// `text` escaped by [`NamedEntities`], for values put into HTML that is not a template (an
/// email batch's own HTML body).
pub fn named_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing into a String cannot fail.
    let _ = NamedEntities.write_escaped_str(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_characters_are_named_and_the_rest_kept() {
        assert_eq!(named_entities(r#"<b class="x">Tom & Jerry's</b> · é"#), "&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/b&gt; · é");
        assert_eq!(named_entities(""), "");
        assert_eq!(named_entities("plain"), "plain");
    }
}
