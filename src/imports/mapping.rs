//! What the person chose on the mapping page, and the per-row checks that turn a CSV record
//! into a client row ready for staging (or the reasons it is rejected).

use csv::StringRecord;
use serde::{Deserialize, Serialize};

use crate::clients::domain::{ClientStatus, PhoneE164};
use crate::csv_io::rows::{Row, size_label};
use crate::web::forms;

/// Where a column goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Ignore,
    /// Kept in the client's notes as "Header: value".
    Note,
    Name,
    FirstName,
    LastName,
    Email,
    Phone,
    Company,
    Status,
    Tags,
    Notes,
}

impl Target {
    pub const ALL: [Target; 11] = [
        Target::Ignore, Target::Note, Target::Name, Target::FirstName, Target::LastName, Target::Email, Target::Phone,
        Target::Company, Target::Status, Target::Tags, Target::Notes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Ignore => "ignore",
            Target::Note => "note",
            Target::Name => "name",
            Target::FirstName => "first_name",
            Target::LastName => "last_name",
            Target::Email => "email",
            Target::Phone => "phone",
            Target::Company => "company",
            Target::Status => "status",
            Target::Tags => "tags",
            Target::Notes => "notes",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::Ignore => "(ignore)",
            Target::Note => "(keep as a note)",
            Target::Name => "Name",
            Target::FirstName => "First name",
            Target::LastName => "Last name",
            Target::Email => "Email",
            Target::Phone => "Phone",
            Target::Company => "Company",
            Target::Status => "Status",
            Target::Tags => "Tags",
            Target::Notes => "Notes",
        }
    }

    pub fn parse(value: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// The guess for a header name (see `csv_io::sniff::guess_field`), else ignored.
    pub fn guess(header: &str) -> Target {
        crate::csv_io::sniff::guess_field(header).and_then(Target::parse).unwrap_or(Target::Ignore)
    }
}

/// Which field finds an existing client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    Email,
    Phone,
}

impl Key {
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Email => "email",
            Key::Phone => "phone",
        }
    }

    pub fn target(self) -> Target {
        match self {
            Key::Email => Target::Email,
            Key::Phone => Target::Phone,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExisting {
    Update,
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Any rejected row → nothing written.
    AllOrNothing,
    /// Import the valid rows, report the rest.
    SkipInvalid,
}

/// Everything the run needs besides the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportSettings {
    pub columns: Vec<Target>,
    pub key: Key,
    pub on_existing: OnExisting,
    pub mode: Mode,
    pub department_id: Option<i64>,
    pub tag: Option<String>,
    /// Who new clients are assigned to (agents: always themselves).
    pub assignee: Option<i64>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// Whether the uploaded file began with a byte-order mark (errors.csv then has one too).
    #[serde(default)]
    pub bom: bool,
}

impl ImportSettings {
    /// The header of the column mapped to `target`, for error reports.
    pub fn column_of(&self, headers: &[String], target: Target) -> String {
        self.columns.iter().position(|t| *t == target).and_then(|i| headers.get(i).cloned()).unwrap_or_default()
    }

    /// Mapping mistakes a person must fix before the run.
    pub fn problems(&self, header_count: usize) -> Vec<String> {
        let mut out = Vec::new();
        if self.columns.len() != header_count {
            out.push(format!("Map each of the {header_count} columns (got {}).", self.columns.len()));
        }
        for t in Target::ALL.into_iter().filter(|t| !matches!(t, Target::Ignore | Target::Note)) {
            if self.columns.iter().filter(|c| **c == t).count() > 1 {
                out.push(format!("{} is chosen for more than one column.", t.label()));
            }
        }
        let identifies = [Target::Name, Target::FirstName, Target::LastName, Target::Email, Target::Phone];
        if !self.columns.iter().any(|c| identifies.contains(c)) {
            out.push("Map at least one column to a name, email or phone.".into());
        }
        if !self.columns.contains(&self.key.target()) {
            out.push(format!("Existing clients are matched by {}, so map a column to {}.", self.key.as_str(), self.key.target().label()));
        }
        out
    }
}

/// A row ready for staging. `name` is only what the row names (the insert falls back to
/// the email or phone); `None` fields leave an existing client's value alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checked {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `phone` as people write it.
    pub phone_formatted: Option<String>,
    pub company: Option<String>,
    pub status: Option<&'static str>,
    pub notes: Option<String>,
    /// Tag names, each without `;` (the staging separator).
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub column: String,
    pub reason: String,
}

pub struct RowChecker<'a> {
    pub settings: &'a ImportSettings,
    pub headers: &'a [String],
    pub country: &'a str,
}

impl RowChecker<'_> {
    /// `check` for a row read through bounded buffers: a row of the wrong width, or with a
    /// cell larger than any field takes, is rejected without looking further.
    pub fn check_row(&self, row: &Row) -> Result<Option<Checked>, Vec<Problem>> {
        if row.fields != self.headers.len() && row.fields > row.record.len() {
            return Err(vec![width_problem(row.fields, self.headers.len())]);
        }
        if !row.oversized.is_empty() {
            return Err(row
                .oversized
                .iter()
                .map(|&(index, bytes)| Problem {
                    column: self.headers.get(index).cloned().unwrap_or_default(),
                    reason: format!("This cell holds {}; no field takes more than 10000 characters.", size_label(bytes)),
                })
                .collect());
        }
        self.check(&row.record)
    }

    /// `Ok(None)` for a row with no values at all (skipped, not rejected).
    pub fn check(&self, record: &StringRecord) -> Result<Option<Checked>, Vec<Problem>> {
        if record.iter().all(|cell| cell.trim().is_empty()) {
            return Ok(None);
        }
        if record.len() != self.headers.len() {
            return Err(vec![width_problem(record.len(), self.headers.len())]);
        }
        let mut problems = Vec::new();
        let mut row = Checked::default();
        let (mut first, mut last) = (None, None);
        let mut kept_notes: Vec<String> = Vec::new();
        for ((target, header), cell) in self.settings.columns.iter().zip(self.headers).zip(record.iter()) {
            let value = unescape_formula(cell.trim());
            if *target == Target::Ignore || value.is_empty() {
                continue;
            }
            let mut fail = |reason: String| problems.push(Problem { column: header.clone(), reason });
            if value.contains('\0') {
                fail("Contains a NUL character.".into());
                continue;
            }
            let limited = |max_chars: usize, label: &str| -> Result<String, forms::TextError> {
                if value.chars().count() > max_chars { Err(forms::TextError::TooLong { label: label.to_string(), max_chars }) } else { Ok(value.to_string()) }
            };
            match target {
                Target::Ignore => {}
                Target::Note => kept_notes.push(format!("{header}: {value}")),
                Target::Name => match limited(200, "Name") {
                    Ok(v) => row.name = Some(v),
                    Err(e) => fail(e.to_string()),
                },
                Target::FirstName => first = Some(value.to_string()),
                Target::LastName => last = Some(value.to_string()),
                Target::Email => match forms::email(value) {
                    Ok(v) => row.email = Some(v),
                    Err(e) => fail(e.to_string()),
                },
                Target::Phone => match PhoneE164::parse_formatted(value, self.country) {
                    Ok((v, formatted)) => {
                        row.phone = Some(v.into_inner());
                        row.phone_formatted = Some(formatted);
                    }
                    Err(e) => fail(e.to_string()),
                },
                Target::Company => match limited(200, "Company") {
                    Ok(v) => row.company = Some(v),
                    Err(e) => fail(e.to_string()),
                },
                Target::Status => match ClientStatus::parse(&value.to_lowercase()) {
                    Ok(v) => row.status = Some(v.as_str()),
                    Err(e) => fail(e.to_string()),
                },
                Target::Tags => {
                    for tag in value.split([';', ',']).map(str::trim).filter(|t| !t.is_empty()) {
                        if tag.chars().count() > 50 {
                            fail(format!("Tag {:?} is longer than 50 characters.", tag.chars().take(20).collect::<String>()));
                        } else if !row.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                            row.tags.push(tag.to_string());
                        }
                    }
                }
                Target::Notes => kept_notes.insert(0, value.to_string()),
            }
        }
        if row.name.is_none() && (first.is_some() || last.is_some()) {
            let joined = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
            if joined.chars().count() > 200 {
                problems.push(Problem { column: self.settings.column_of(self.headers, Target::FirstName), reason: "Name must be at most 200 characters.".into() });
            } else {
                row.name = Some(joined);
            }
        }
        if !kept_notes.is_empty() {
            let notes = kept_notes.join("\n");
            if notes.chars().count() > 10_000 {
                problems.push(Problem { column: self.settings.column_of(self.headers, Target::Notes), reason: "Notes must be at most 10000 characters.".into() });
            } else {
                row.notes = Some(notes);
            }
        }
        if problems.is_empty() && row.name.is_none() && row.email.is_none() && row.phone.is_none() {
            problems.push(Problem { column: String::new(), reason: "A row needs a name, an email or a phone.".into() });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(tag) = &self.settings.tag {
            if !row.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                row.tags.push(tag.clone());
            }
        }
        Ok(Some(row))
    }
}

fn width_problem(fields: usize, width: usize) -> Problem {
    Problem { column: String::new(), reason: format!("This row has {fields} fields but the header has {width}; a quote or delimiter may be missing.") }
}

/// Undoes the `'` our exports put before a cell starting with `=`, `+`, `-` or `@` (so an
/// export imports back as it was); a formula itself is stored as text and escaped on export.
pub fn unescape_formula(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(columns: &[Target]) -> ImportSettings {
        ImportSettings {
            columns: columns.to_vec(),
            key: Key::Email,
            on_existing: OnExisting::Update,
            mode: Mode::AllOrNothing,
            department_id: None,
            tag: Some("spring".into()),
            assignee: None,
            ip: None,
            request_id: None,
            bom: false,
        }
    }

    fn check(columns: &[Target], headers: &[&str], cells: &[&str]) -> Result<Option<Checked>, Vec<Problem>> {
        let s = settings(columns);
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        RowChecker { settings: &s, headers: &headers, country: "US" }.check(&StringRecord::from(cells.to_vec()))
    }

    #[test]
    fn a_good_row_is_normalised() {
        let cols = [Target::FirstName, Target::LastName, Target::Email, Target::Phone, Target::Status, Target::Tags, Target::Note];
        let heads = ["First", "Last", "E-mail", "Mobile", "Stage", "Labels", "Source"];
        let row = check(&cols, &heads, &["Ada", "Lovelace", " ADA@Example.com ", "(415) 555-2671", "Hot", "vip; VIP, london", "fair"]).unwrap().unwrap();
        assert_eq!(row.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(row.email.as_deref(), Some("ada@example.com"));
        assert_eq!(row.phone.as_deref(), Some("+14155552671"));
        assert_eq!(row.status, Some("hot"));
        assert_eq!(row.tags, vec!["vip", "london", "spring"]);
        assert_eq!(row.notes.as_deref(), Some("Source: fair"));
    }

    #[test]
    fn every_problem_of_a_row_is_named_with_its_column() {
        let cols = [Target::Name, Target::Email, Target::Phone, Target::Status];
        let problems = check(&cols, &["Name", "Email", "Phone", "Status"], &["X", "not-an-email", "12", "cold"]).unwrap_err();
        let columns: Vec<&str> = problems.iter().map(|p| p.column.as_str()).collect();
        assert_eq!(columns, ["Email", "Phone", "Status"]);
    }

    #[test]
    fn rows_of_the_wrong_width_and_rows_without_identity_are_rejected() {
        let cols = [Target::Name, Target::Email, Target::Company];
        let wide: Vec<&str> = vec!["x"; 10_000];
        let problems = check(&cols, &["Name", "Email", "Company"], &wide).unwrap_err();
        assert!(problems[0].reason.contains("10000 fields"), "{problems:?}");
        let problems = check(&cols, &["Name", "Email", "Company"], &["", "", "Acme"]).unwrap_err();
        assert!(problems[0].reason.contains("name, an email or a phone"));
        assert_eq!(check(&cols, &["Name", "Email", "Company"], &["", " ", ""]).unwrap(), None, "blank rows are skipped");
        let long = "x".repeat(201);
        assert!(check(&cols, &["Name", "Email", "Company"], &[&long, "", ""]).is_err());
    }

    #[test]
    fn export_escapes_are_undone() {
        assert_eq!(unescape_formula("'+14155552671"), "+14155552671");
        assert_eq!(unescape_formula("'=SUM(1)"), "=SUM(1)");
        assert_eq!(unescape_formula("'quoted'"), "'quoted'");
        let row = check(&[Target::Name, Target::Phone], &["Name", "Phone"], &["'-Dash", "'+1 415 555 2671"]).unwrap().unwrap();
        assert_eq!((row.name.as_deref(), row.phone.as_deref()), (Some("-Dash"), Some("+14155552671")));
    }

    #[test]
    fn mapping_problems_are_listed() {
        let s = ImportSettings { key: Key::Phone, ..settings(&[Target::Name, Target::Name]) };
        let problems = s.problems(3);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(settings(&[Target::Email, Target::Ignore]).problems(2).is_empty());
    }
}
