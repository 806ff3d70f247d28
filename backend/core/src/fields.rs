//! Custom fields a company adds to its customer cards, and the checking of their values.
use crate::{Error, FieldId, Result};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

crate::text_enum!(FieldKind { Text => "text", Number => "number", Date => "date", Choice => "choice" });

#[derive(Clone, Debug, PartialEq)]
pub struct CustomField {
    pub id: FieldId,
    /// What API clients and imports name it: lowercase letters, digits and `_`.
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    /// The allowed values of a choice field.
    pub choices: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Values by field key, as stored: text as typed, numbers and dates in a canonical form.
pub type FieldValues = BTreeMap<String, String>;

pub fn check_key(key: &str) -> Result<String> {
    let key = key.trim();
    let valid = (1..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(key.to_owned())
    } else {
        Err(Error::bad_input("key", "a key is 1 to 40 lowercase letters, digits or _, starting with a letter"))
    }
}

impl CustomField {
    /// The value as stored, or why it does not fit the field.
    pub fn check(&self, raw: &str) -> Result<String> {
        let raw = raw.trim();
        let bad = |why: String| Error::bad_input("customFields", format!("{}: {why}", self.label));
        match self.kind {
            FieldKind::Text if raw.chars().count() <= 1000 && !raw.chars().any(|c| c.is_control() && c != '\n') => {
                Ok(raw.to_owned())
            }
            FieldKind::Text => Err(bad("at most 1000 printable characters".into())),
            FieldKind::Number => match raw.replace(' ', "").replace(',', ".").parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(n.to_string()),
                _ => Err(bad(format!("{raw:?} is not a number"))),
            },
            FieldKind::Date => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .or_else(|_| NaiveDate::parse_from_str(raw, "%d.%m.%Y"))
                .map(|d| d.to_string())
                .map_err(|_| bad(format!("{raw:?} is not a date (YYYY-MM-DD or DD.MM.YYYY)"))),
            FieldKind::Choice => self
                .choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(raw))
                .cloned()
                .ok_or_else(|| bad(format!("{raw:?} is not one of: {}", self.choices.join(", ")))),
        }
    }
}

/// Applies `changes` (a value, or `None` to clear) to `values`, checked against `fields`.
pub fn apply(fields: &[CustomField], values: &mut FieldValues, changes: &[(String, Option<String>)]) -> Result<()> {
    for (key, value) in changes {
        let field = fields
            .iter()
            .find(|f| f.key == *key)
            .ok_or_else(|| Error::bad_input("customFields", format!("there is no custom field {key:?}")))?;
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => {
                values.insert(key.clone(), field.check(value)?);
            }
            None => {
                values.remove(key);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: FieldKind, choices: &[&str]) -> CustomField {
        CustomField {
            id: FieldId::new(),
            key: "f".into(),
            label: "F".into(),
            kind,
            choices: choices.iter().map(|c| c.to_string()).collect(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn values_are_checked_and_made_canonical() {
        assert_eq!(field(FieldKind::Number, &[]).check("1 250,50").unwrap(), "1250.5");
        assert!(field(FieldKind::Number, &[]).check("lots").is_err());
        assert_eq!(field(FieldKind::Date, &[]).check("26.11.2026").unwrap(), "2026-11-26");
        assert!(field(FieldKind::Date, &[]).check("2026-02-30").is_err());
        let tier = field(FieldKind::Choice, &["Gold", "Silver"]);
        assert_eq!(tier.check("gold").unwrap(), "Gold");
        assert!(tier.check("Bronze").is_err());
        assert!(check_key("Tier").is_err() && check_key("2nd").is_err());
        assert_eq!(check_key("tier_2").unwrap(), "tier_2");
    }
}
