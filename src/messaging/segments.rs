//! How many SMS segments a text takes, and in which encoding: GSM-7 when every character is
//! in the GSM 03.38 basic set or its extension table (extension characters take two
//! septets), 160 septets in one segment or 153 per segment when split; otherwise UCS-2,
//! counted in UTF-16 code units, 70 in one segment or 67 per segment when split.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub count: usize,
    /// Units per segment at this length.
    pub per_segment: usize,
}

const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// Septets for `c` in GSM-7, `None` when it has no GSM-7 form.
fn septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn count(body: &str) -> Segments {
    let gsm: Option<usize> = body.chars().map(septets).sum();
    let (encoding, units, single, multi) = match gsm {
        Some(units) => (Encoding::Gsm7, units, 160, 153),
        None => (Encoding::Ucs2, body.encode_utf16().count(), 70, 67),
    };
    let (count, per_segment) = if units == 0 {
        (0, single)
    } else if units <= single {
        (1, single)
    } else {
        (units.div_ceil(multi), multi)
    };
    Segments { encoding, units, count, per_segment }
}

impl Segments {
    /// "2 segments · GSM-7, 153 characters each".
    pub fn describe(&self) -> String {
        let n = if self.count == 1 { "1 segment".to_string() } else { format!("{} segments", self.count) };
        match self.encoding {
            Encoding::Gsm7 => format!("{n} · GSM-7, {} characters each", self.per_segment),
            Encoding::Ucs2 => format!("{n} · UCS-2 (emoji or non-Latin), {} each", self.per_segment),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_fits_160_then_splits_at_153() {
        assert_eq!(count(""), Segments { encoding: Encoding::Gsm7, units: 0, count: 0, per_segment: 160 });
        assert_eq!(count(&"a".repeat(160)).count, 1);
        let two = count(&"a".repeat(161));
        assert_eq!((two.count, two.per_segment, two.units), (2, 153, 161));
        assert_eq!(count(&"a".repeat(306)).count, 2);
        assert_eq!(count(&"a".repeat(307)).count, 3);
        assert_eq!(two.describe(), "2 segments · GSM-7, 153 characters each");
        assert_eq!(count("Hi").describe(), "1 segment · GSM-7, 160 characters each");
    }

    #[test]
    fn extension_characters_take_two_septets() {
        let s = count("€[]{}");
        assert_eq!((s.encoding, s.units), (Encoding::Gsm7, 10));
        assert_eq!(count(&"€".repeat(80)).count, 1, "160 septets");
        assert_eq!(count(&"€".repeat(81)).count, 2, "162 septets");
        assert_eq!(count("ÄÖÑÜäöñüà£¥").encoding, Encoding::Gsm7, "accented basic-set letters stay GSM-7");
    }

    #[test]
    fn anything_else_is_ucs2_counted_in_utf16_units() {
        let s = count("Hello 👋");
        assert_eq!((s.encoding, s.units, s.count), (Encoding::Ucs2, 8, 1), "an emoji is two UTF-16 units");
        assert_eq!(count(&"я".repeat(70)).count, 1);
        let two = count(&"я".repeat(71));
        assert_eq!((two.count, two.per_segment), (2, 67));
        assert_eq!(count(&"я".repeat(135)).count, 3);
        assert_eq!(two.describe(), "2 segments · UCS-2 (emoji or non-Latin), 67 each");
        assert_eq!(count("ç").encoding, Encoding::Ucs2, "lower-case ç is not in the basic set");
    }
}
