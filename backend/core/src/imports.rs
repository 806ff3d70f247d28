//! CSV imports of customers: the column mapping, and the job's progress and report.
use crate::{Error, ImportId, Result, UserId};
use chrono::{DateTime, Utc};

crate::text_enum!(ImportStatus { Running => "running", Done => "done", Failed => "failed" });

/// Rows one import may hold.
pub const MAX_ROWS: usize = 50_000;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    /// The row's number in the file (the header is row 1).
    pub row: u32,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CustomerImport {
    pub id: ImportId,
    pub dry_run: bool,
    pub status: ImportStatus,
    pub total: u32,
    pub processed: u32,
    /// Customers created (a dry run: that would be created).
    pub created: u32,
    pub rejections: Vec<Rejection>,
    /// Why the import stopped, when it failed.
    pub error: Option<String>,
    pub user_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When its progress was last saved (a batch of rows, or its end).
    pub progressed_at: DateTime<Utc>,
}

/// What a column of the file fills in.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Name,
    Phone,
    Email,
    Tag,
    /// The responsible manager, by their email.
    Responsible,
    /// A custom field, by key.
    Field(String),
    Skip,
}

impl std::str::FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "name" => Self::Name,
            "phone" => Self::Phone,
            "email" => Self::Email,
            "tag" => Self::Tag,
            "responsible" => Self::Responsible,
            "skip" => Self::Skip,
            other => match other.strip_prefix("field:") {
                Some(key) => Self::Field(key.to_owned()),
                None => {
                    return Err(Error::bad_input(
                        "mapping",
                        format!("{other:?}: map columns to name, phone, email, tag, responsible, field:<key> or skip"),
                    ));
                }
            },
        })
    }
}

/// A row of the file and its number as a spreadsheet shows it (the header is row 1).
pub type NumberedRow = (u32, Vec<String>);

/// The file's header and rows (blank ones left out). `;` separates columns when the header has more of them than `,`
/// (spreadsheets in many locales save CSV that way).
pub fn read(text: &str) -> Result<(Vec<String>, Vec<NumberedRow>)> {
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let bad = |e: csv::Error| Error::bad_input("csv", format!("the file is not CSV: {e}"));
    let header: Vec<String> = reader.headers().map_err(bad)?.iter().map(|h| h.trim().to_owned()).collect();
    if header.iter().all(String::is_empty) {
        return Err(Error::bad_input("csv", "the file has no header row"));
    }
    let mut rows = Vec::new();
    // Line numbers counted from byte offsets: the reader's own count is off past a blank line.
    let (mut counted_to, mut line) = (0usize, 1u32);
    for record in reader.records() {
        let record = record.map_err(bad)?;
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let start = record.position().and_then(|p| usize::try_from(p.byte()).ok()).unwrap_or(counted_to);
        let start = first_content(text.as_bytes(), start).max(counted_to);
        line += text.as_bytes()[counted_to..start].iter().filter(|b| **b == b'\n').count() as u32;
        counted_to = start;
        rows.push((line, record.iter().map(|v| v.trim().to_owned()).collect()));
        if rows.len() > MAX_ROWS {
            return Err(Error::bad_input("csv", format!("at most {MAX_ROWS} rows per import; split the file")));
        }
    }
    Ok((header, rows))
}

/// Where the text from `at` on stops being blank (the reader may report a record's start at
/// the blank lines before it).
fn first_content(text: &[u8], at: usize) -> usize {
    let at = at.min(text.len());
    at + text[at..].iter().take_while(|b| b.is_ascii_whitespace()).count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn commas_or_semicolons_and_quotes() {
        let (header, rows) = super::read("Name;Phone\n\n;\n\"Karimova; Dilnoza\";+998901234567\n").unwrap();
        assert_eq!(header, ["Name", "Phone"]);
        let row = vec!["Karimova; Dilnoza".to_owned(), "+998901234567".to_owned()];
        assert_eq!(rows, [(4, row)], "numbered as in the file, past the blank lines");
        assert!(super::read("").is_err());
        assert!("field:tier".parse::<super::Target>().is_ok() && "age".parse::<super::Target>().is_err());
    }
}
