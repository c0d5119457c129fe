//! Client fields parsed at the edge: a value of these types is valid by construction.

use std::str::FromStr;

use phonenumber::country::{Id, Source};
use phonenumber::metadata::DATABASE;

use serde::{Deserialize, Serialize};

use crate::clients::countries;

/// hot / warm / inactive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    Hot,
    Warm,
    Inactive,
}

impl ClientStatus {
    pub const ALL: [ClientStatus; 3] = [ClientStatus::Hot, ClientStatus::Warm, ClientStatus::Inactive];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Hot => "hot",
            ClientStatus::Warm => "warm",
            ClientStatus::Inactive => "inactive",
        }
    }

    pub fn parse(value: &str) -> Result<Self, UnknownStatus> {
        match value.trim() {
            "hot" => Ok(ClientStatus::Hot),
            "warm" => Ok(ClientStatus::Warm),
            "inactive" => Ok(ClientStatus::Inactive),
            other => Err(UnknownStatus(other.chars().take(20).collect())),
        }
    }
}

impl std::fmt::Display for ClientStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status that is none of the three (its first 20 characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Status must be hot, warm or inactive, not {0:?}.")]
pub struct UnknownStatus(String);

/// Why a typed phone number was refused; the message is the one the page shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("Phone must be at most 40 characters.")]
    TooLong,
    #[error("{0:?} is not a phone number; write it with the country code, like +14155550123.")]
    NotANumber(String),
    /// Read, but not a valid number of its country: the message names the country and, for
    /// the workspace's own, shows how its numbers look.
    #[error("{0}")]
    NotValidThere(String),
}

/// A phone number in E.164 (`+14155550123`). Numbers without a `+` are read in the
/// workspace's default country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneE164(String);

impl PhoneE164 {
    pub fn parse(input: &str, default_country: &str) -> Result<Self, PhoneError> {
        Self::read_valid(input, default_country).map(|number| PhoneE164::of(&number))
    }

    /// Parses as `parse` does and also gives the number as people write it (`international`)
    /// from the same parse: what a write stores beside the number (`clients.phone_formatted`).
    pub fn parse_formatted(input: &str, default_country: &str) -> Result<(Self, String), PhoneError> {
        let number = Self::read_valid(input, default_country)?;
        let phone = PhoneE164::of(&number);
        let formatted = phone.grouped(&number);
        Ok((phone, formatted))
    }

    fn of(number: &phonenumber::PhoneNumber) -> Self {
        PhoneE164(number.format().mode(phonenumber::Mode::E164).to_string())
    }

    fn read_valid(input: &str, default_country: &str) -> Result<phonenumber::PhoneNumber, PhoneError> {
        let input = input.trim();
        if input.chars().count() > 40 {
            return Err(PhoneError::TooLong);
        }
        let default = Id::from_str(default_country).ok();
        let number = read(input, default).map_err(|_| PhoneError::NotANumber(input.to_string()))?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::NotValidThere(invalid(input, &number, default_country)));
        }
        Ok(number)
    }

    /// The number as people write it, in groups of digits after the country code:
    /// `+49 170 1234567`, `+1 415 555 2671` (libphonenumber's international format, with
    /// spaces for its other separators). CSV exports write phones so: spreadsheets read it
    /// as text, where a bare `+4917012345678` becomes a number (see `csv_safe`).
    pub fn international(&self) -> String {
        match phonenumber::parse(None, &self.0) {
            Ok(number) => self.grouped(&number),
            Err(_) => self.0.clone(),
        }
    }

    /// `international` of this number, already parsed.
    fn grouped(&self, number: &phonenumber::PhoneNumber) -> String {
        let formatted = number.format().mode(phonenumber::Mode::International).to_string();
        let digits_and_spaces = formatted.trim_start_matches('+').replace(|c: char| !c.is_ascii_digit(), " ");
        let groups: Vec<&str> = digits_and_spaces.split_whitespace().collect();
        // Only when it still names the same number (nothing dropped, such as an extension).
        let same = groups.concat() == self.0.trim_start_matches('+');
        if same && groups.len() > 1 { format!("+{}", groups.join(" ")) } else { self.0.clone() }
    }

    /// A stored E.164 value (trusted: it was parsed on the way in).
    pub fn from_stored(value: &str) -> Self {
        PhoneE164(value.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Parses `input`, read in `default` unless it carries its own country code.
///
/// phonenumber 0.3 (`parser::parse_with`) applies the *default* region's national-prefix
/// rules to every number once a default region is given, even to one written with another
/// country's code: with the US as default, `+49 170 1234567` loses the `1` of `170` (the US
/// national prefix), becomes `+49 701234567` and is invalid. So a number with a `+` is
/// parsed without a default region, and one dialled with the default region's international
/// prefix (`00 49 …` from Germany, `011 49 …` from the US) is read again as `+49 …`.
fn read(input: &str, default: Option<Id>) -> Result<phonenumber::PhoneNumber, phonenumber::ParseError> {
    if input.starts_with(['+', '\u{FF0B}']) {
        return phonenumber::parse(None, input);
    }
    let number = phonenumber::parse(default, input)?;
    if number.code().source() == Source::Idd
        && let Some(rest) = without_international_prefix(input, default)
    {
        return phonenumber::parse(None, format!("+{rest}"));
    }
    // A national number that starts with its own country's code (Rwanda's 250 123 456) is
    // taken for an international one without `+`; read with the national prefix it is whole.
    if number.code().source() == Source::Number
        && !phonenumber::is_valid(&number)
        && let Some(prefix) = default.and_then(|id| DATABASE.by_id(id.as_ref())).and_then(|m| m.national_prefix())
        && let Ok(again) = phonenumber::parse(default, format!("{prefix}{input}"))
        && phonenumber::is_valid(&again)
    {
        return Ok(again);
    }
    Ok(number)
}

/// The digits after the default region's international prefix, for a number of digits and
/// punctuation only.
fn without_international_prefix(input: &str, default: Option<Id>) -> Option<String> {
    if input.chars().any(char::is_alphabetic) {
        return None;
    }
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    let idd = DATABASE.by_id(default?.as_ref())?.international_prefix()?;
    let found = idd.find(&digits).filter(|m| m.start() == 0)?;
    Some(digits[found.end()..].to_string())
}

/// Why a parsed number is refused, naming the country. A number written without a country
/// code is shown beside an example of the workspace's own country: guessing which other
/// country it might belong to misled (issue 19: a UK team's "555-0100" was offered Iceland
/// and Brunei, and "07700 900123" Germany).
fn invalid(input: &str, number: &phonenumber::PhoneNumber, default_country: &str) -> String {
    let code = number.code().value();
    if number.code().source() != Source::Default {
        let country = number.country().id().and_then(|id| countries::name(id.as_ref()));
        return match country {
            Some(name) => format!("{input:?} is not a valid number for {name}."),
            None => format!("{input:?} is not a valid number for the country code +{code}."),
        };
    }
    let here = countries::name(default_country).map(str::to_string).unwrap_or_else(|| default_country.to_string());
    match example(default_country) {
        Some(example) => format!("{input:?} is not a valid number for {here} (numbers there look like {example}); for another country, write + and its country code first."),
        None => format!("{input:?} is not a valid number for {here}; write it with + and its country code first."),
    }
}

/// The digits a search for a phone number stands for, when the search is one: at least four
/// digits and nothing but phone punctuation, without the leading zeros of a trunk or
/// international prefix (`020 7946 0000` → `2079460000`, `00 1 201…` → `1201…`). Such a search
/// finds the numbers that end with those digits, through an index on the reversed number.
pub fn phone_digits(q: &str) -> Option<String> {
    if !q.chars().all(|c| c.is_ascii_digit() || " +-.()/".contains(c)) {
        return None;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0');
    (digits.len() >= 4 && !significant.is_empty()).then(|| significant.to_string())
}

/// An example number of `country` as its people write it (a mobile number in the national
/// format, from the metadata phonenumber ships: "07400 123456" for the United Kingdom), for
/// the phone field's placeholder and for refusals; `None` for a country without one.
pub fn example(country: &str) -> Option<String> {
    let meta = DATABASE.by_id(country)?;
    let descriptors = meta.descriptors();
    let digits = [descriptors.mobile(), descriptors.fixed_line()].into_iter().flatten().find_map(|d| d.example())?;
    let number = phonenumber::parse(None, format!("+{}{digits}", meta.country_code())).ok()?;
    Some(number.format().mode(phonenumber::Mode::National).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_a_phone_number_when_it_is_four_digits_or_more_and_phone_punctuation() {
        assert_eq!(phone_digits("020 7946 0000").as_deref(), Some("2079460000"));
        assert_eq!(phone_digits("+1 (201) 200-0077").as_deref(), Some("12012000077"));
        assert_eq!(phone_digits("0077").as_deref(), Some("77"));
        assert_eq!(phone_digits("123"), None, "three digits are a text search");
        assert_eq!(phone_digits("0000"), None);
        assert_eq!(phone_digits("smith 2012"), None);
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(PhoneE164::parse("+1 415-555-2671", "US").unwrap().as_str(), "+14155552671");
        assert_eq!(PhoneE164::parse("(415) 555-2671", "US").unwrap().as_str(), "+14155552671");
        assert_eq!(PhoneE164::parse("030 123456", "DE").unwrap().as_str(), "+4930123456");
        assert_eq!(PhoneE164::parse("+44 20 7946 0958", "US").unwrap().as_str(), "+442079460958");
        for bad in ["", "abc", "123", "+1 555", "+999 123 456 789"] {
            assert!(PhoneE164::parse(bad, "US").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers_with_another_countrys_code_are_read_with_that_countrys_rules() {
        // A German mobile: with the US as default, phonenumber took its leading 1 for the US national prefix.
        for default in ["US", "DE", "FR", "GB", "CN"] {
            assert_eq!(PhoneE164::parse("+49 170 1234567", default).map(PhoneE164::into_inner), Ok("+491701234567".into()), "default {default}");
            assert_eq!(PhoneE164::parse("+39 06 1234 5678", default).map(PhoneE164::into_inner), Ok("+390612345678".into()), "default {default}");
        }
        assert_eq!(PhoneE164::parse("0049 170 1234567", "FR").unwrap().as_str(), "+491701234567");
        assert_eq!(PhoneE164::parse("011 49 170 1234567", "US").unwrap().as_str(), "+491701234567");
        assert_eq!(PhoneE164::parse("00 39 06 1234 5678", "DE").unwrap().as_str(), "+390612345678");
        assert_eq!(PhoneE164::parse("0170 1234567", "DE").unwrap().as_str(), "+491701234567");
    }

    /// Every region's example fixed-line and mobile numbers from the metadata phonenumber
    /// ships are valid: written with their country code whatever the workspace's country,
    /// and written in their country's national format in their own country.
    #[test]
    fn every_regions_example_numbers_are_valid() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for meta in DATABASE.iter().filter(|m| m.id() != "001") {
            let descriptors = meta.descriptors();
            for (kind, descriptor) in [("fixed line", descriptors.fixed_line()), ("mobile", descriptors.mobile())] {
                let Some(example) = descriptor.and_then(|d| d.example()) else { continue };
                let e164 = format!("+{}{example}", meta.country_code());
                // As the metadata's national format writes it (with the national prefix where one is used).
                let national = phonenumber::parse(None, &e164).map(|n| n.format().mode(phonenumber::Mode::National).to_string()).unwrap_or_default();
                let cases = [(format!("+{} {example}", meta.country_code()), "US"), (e164.clone(), "DE"), (e164.clone(), meta.id()), (national, meta.id())];
                for (input, default) in cases {
                    checked += 1;
                    match PhoneE164::parse(&input, default) {
                        Ok(p) if p.as_str() == e164 => {}
                        other => failures.push(format!("{} {kind} {input:?} (default {default}): {other:?}", meta.id())),
                    }
                }
            }
        }
        assert!(checked > 900, "only {checked} examples checked");
        assert!(failures.is_empty(), "{} of {checked} refused:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn refusals_name_the_country_and_show_its_own_example() {
        let german = PhoneE164::parse("+49 12", "US").unwrap_err().to_string();
        assert!(german.contains("not a valid number for Germany"), "{german}");
        // Issue 19.15: a UK workspace's numbers were "suggested" Iceland, Brunei or Germany.
        let uk = PhoneE164::parse("555-0100", "GB").unwrap_err().to_string();
        assert_eq!(uk, "\"555-0100\" is not a valid number for the United Kingdom (numbers there look like 07400 123456); for another country, write + and its country code first.");
        let drama = PhoneE164::parse("07700 900123", "GB").unwrap_err().to_string();
        assert!(drama.starts_with("\"07700 900123\" is not a valid number for the United Kingdom (numbers there look like 07400 123456)"), "{drama}");
        for refusal in [&uk, &drama, &PhoneE164::parse("06 12 34 56 78", "US").unwrap_err().to_string()] {
            for elsewhere in ["Iceland", "Brunei", "Germany", "France", "+354", "+49", "+33"] {
                assert!(!refusal.contains(elsewhere), "no guess at another country: {refusal}");
            }
        }
        assert_eq!(example("US").as_deref(), Some("(201) 555-0123"));
        assert_eq!(example("DE").as_deref(), Some("01512 3456789"));
        assert_eq!(example("ZZ"), None);
        assert_eq!(countries::name("US"), Some("the United States"));
        assert_eq!(countries::name("XK"), Some("Kosovo"));
        assert_eq!(countries::name("ZZ"), None);
        for meta in DATABASE.iter().filter(|m| m.id() != "001") {
            assert!(countries::name(meta.id()).is_some(), "no English name for region {}", meta.id());
        }
    }

    #[test]
    fn exports_show_the_international_format() {
        assert_eq!(PhoneE164::from_stored("+491701234567").international(), "+49 170 1234567");
        assert_eq!(PhoneE164::from_stored("+14155552671").international(), "+1 415 555 2671");
        assert_eq!(PhoneE164::from_stored("+442079460958").international(), "+44 20 7946 0958");
    }

    #[test]
    fn statuses_parse_from_their_names_only() {
        for s in ClientStatus::ALL {
            assert_eq!(ClientStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(ClientStatus::parse("cold").is_err());
    }
}
