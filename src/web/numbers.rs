//! Numbers as people read them: thousands separators (`1,234,567`), and counts that stop at
//! a bound (`1,000+`). Templates use the `thousands` filter (`{{ n|thousands }}`) after
//! `use crate::web::numbers::filters;` next to their `#[derive(Template)]`.

use std::fmt;

/// `1234567` → `1,234,567`; `-1234` → `-1,234`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count, exact or known only to be more than `n` (the query stopped counting there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub n: i64,
    pub more: bool,
}

impl Count {
    pub fn exact(n: i64) -> Self {
        Count { n, more: false }
    }

    /// `found` rows read with a `LIMIT bound + 1`: past the bound it is "`bound`+".
    pub fn bounded(found: i64, bound: i64) -> Self {
        if found > bound { Count { n: bound, more: true } } else { Count::exact(found) }
    }

    pub fn is_one(&self) -> bool {
        self.n == 1 && !self.more
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", thousands(self.n), if self.more { "+" } else { "" })
    }
}

pub mod filters {
    /// `{{ n|thousands }}` for any integer (`i64`, `usize`, …).
    #[askama::filter_fn]
    pub fn thousands<T: Copy + TryInto<i64>>(n: &T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok((*n).try_into().map(super::thousands).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_and_bounded_counts_say_so() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-12_345), "-12,345");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(Count::bounded(1001, 1000).to_string(), "1,000+");
        assert_eq!(Count::bounded(1000, 1000).to_string(), "1,000");
    }
}
