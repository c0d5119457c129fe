//! Client fields parsed at the edge: a value of these types is valid by construction.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "hot" => Ok(ClientStatus::Hot),
            "warm" => Ok(ClientStatus::Warm),
            "inactive" => Ok(ClientStatus::Inactive),
            other => Err(format!("Status must be hot, warm or inactive, not {:?}.", other.chars().take(20).collect::<String>())),
        }
    }
}

impl std::fmt::Display for ClientStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phone number in E.164 (`+14155550123`). Numbers without a `+` are read in the
/// workspace's default country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneE164(String);

impl PhoneE164 {
    pub fn parse(input: &str, default_country: &str) -> Result<Self, String> {
        let input = input.trim();
        if input.chars().count() > 40 {
            return Err("Phone must be at most 40 characters.".into());
        }
        let country = phonenumber::country::Id::from_str(default_country).ok();
        let number = phonenumber::parse(country, input)
            .map_err(|_| format!("{input:?} is not a phone number; write it with the country code, like +14155550123."))?;
        if !phonenumber::is_valid(&number) {
            return Err(format!("{input:?} is not a valid phone number for its country."));
        }
        Ok(PhoneE164(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn statuses_parse_from_their_names_only() {
        for s in ClientStatus::ALL {
            assert_eq!(ClientStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(ClientStatus::parse("cold").is_err());
    }
}
