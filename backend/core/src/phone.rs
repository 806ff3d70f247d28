//! Phone numbers are stored in E.164 so one number typed many ways matches one customer.
use crate::{Error, Result};
use phonenumber::{Mode, country};
use std::str::FromStr;

/// Parses `raw` (local or international format) using the tenant's default country
/// (ISO 3166 alpha-2) for local numbers, and returns it in E.164.
pub fn normalize(raw: &str, default_country: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(Error::bad_input("phones", format!("{raw:?} is not a phone number")));
    }
    let upper = default_country.to_ascii_uppercase();
    let country = country::Id::from_str(&upper).ok();
    let parse = |text: &str| phonenumber::parse(country, text).ok().filter(phonenumber::is_valid);
    let parsed = match parse(trimmed) {
        Some(parsed) => parsed,
        None => {
            // People still dial the old Soviet trunk prefix 8 where it is gone: "8 (90) 123-45-67".
            let legacy =
                LEGACY_TRUNK_8.contains(&upper.as_str()).then(|| trimmed.strip_prefix('8')).flatten().and_then(parse);
            let bad = || Error::bad_input("phones", format!("{raw:?} is not a valid phone number"));
            legacy.ok_or_else(bad)?
        }
    };
    Ok(parsed.format().mode(Mode::E164).to_string())
}

/// Countries whose national numbers were once dialled after an 8 and no longer are.
const LEGACY_TRUNK_8: &[&str] = &["UZ", "TJ", "TM", "KG", "AZ"];

/// Checks an ISO 3166 alpha-2 country code as the default for local numbers.
pub fn check_country(code: &str) -> Result<String> {
    let upper = code.trim().to_ascii_uppercase();
    country::Id::from_str(&upper)
        .map(|_| upper)
        .map_err(|_| Error::bad_input("defaultCountry", format!("{code:?} is not an ISO 3166 country code")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_international_forms_agree() {
        let a = normalize("+998 90 123 45 67", "UZ").unwrap();
        let b = normalize("90 123-45-67", "UZ").unwrap();
        assert_eq!(a, "+998901234567");
        assert_eq!(a, b);
        assert_eq!(normalize("(202) 555-0143", "us").unwrap(), "+12025550143");
        assert_eq!(normalize("8 (90) 123-45-67", "UZ").unwrap(), "+998901234567", "the old trunk prefix");
        assert_eq!(normalize("8 (912) 345-67-89", "RU").unwrap(), "+79123456789");
        assert!(normalize("8 (90) 123-45-67", "US").is_err(), "only where 8 was the trunk prefix");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(normalize("hello", "US").is_err());
        assert!(normalize("123", "US").is_err());
        assert!(normalize("", "US").is_err());
        assert!(check_country("XX").is_err());
        assert_eq!(check_country("uz").unwrap(), "UZ");
    }
}
