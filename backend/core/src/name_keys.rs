//! How a name search matches: the text typed is the beginning of the name or of any word in
//! it, case-insensitively ("Kar" and "dilnoza kar" both find "Dilnoza Karimova").
//!
//! A customer's name is stored with its keys: the name from each word's start on, lower-cased
//! with runs of spaces made one. A search is then a range read of an ordered index
//! (`key >= text AND key < prefix_end(text)`), which row-level security allows (its
//! comparisons are leakproof, unlike `LIKE`, so the policy does not keep it from the index).

/// The keys of `name`: from each word's first letter or digit to the end.
pub fn keys(name: &str) -> Vec<String> {
    let name = normalize(name);
    let mut keys = Vec::new();
    let mut previous_is_word = false;
    for (at, c) in name.char_indices() {
        let is_word = c.is_alphanumeric();
        if is_word && !previous_is_word {
            let key = &name[at..];
            if !keys.iter().any(|k: &String| k == key) {
                keys.push(key.to_owned());
            }
        }
        previous_is_word = is_word;
    }
    keys
}

/// A key's first word: the key up to its first space. A search without a space matches a key
/// exactly when it matches the key's word, so a whole word is found by equality.
pub fn word(key: &str) -> &str {
    key.split(' ').next().unwrap_or(key)
}

/// A name or a search as keys compare it: lower case, spaces trimmed and single.
pub fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The first string after every string that starts with `prefix` (in code point order), or
/// `None` if there is none (then every key from `prefix` on matches).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => 0xE000,
            n => n,
        };
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_starts_a_key() {
        assert_eq!(keys("Dilnoza  Karimova"), ["dilnoza karimova", "karimova"]);
        assert_eq!(keys(" Sardor; Jr "), ["sardor; jr", "jr"]);
        assert_eq!(keys("Анна-Мария Иванова"), ["анна-мария иванова", "мария иванова", "иванова"]);
        assert_eq!(keys("Customer 0042"), ["customer 0042", "0042"]);
        assert_eq!(keys("aa aa"), ["aa aa", "aa"]);
        assert!(keys(" ; ").is_empty());
    }

    #[test]
    fn a_word_is_the_key_up_to_its_first_space() {
        assert_eq!(word("dilnoza karimova"), "dilnoza");
        assert_eq!(word("sardor; jr"), "sardor;");
        assert_eq!(word("karimova"), "karimova");
    }

    #[test]
    fn the_range_holds_exactly_the_keys_that_start_with_the_prefix() {
        let end = prefix_end("kar").unwrap();
        assert_eq!(end, "kas");
        for key in ["kar", "karimova", "kar\u{10FFFF}z"] {
            assert!(key >= "kar" && key < end.as_str(), "{key}");
        }
        for key in ["ka", "kas", "kasimov", "kaz"] {
            assert!(!(key >= "kar" && key < end.as_str()), "{key}");
        }
        assert_eq!(prefix_end("a\u{D7FF}").unwrap(), "a\u{E000}");
        assert_eq!(prefix_end("a\u{10FFFF}").unwrap(), "b");
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
