//! The naming convention: `<name>_plugin.<ext>` holds plugin `<name>`, alias `<name>_plugin`,
//! and a Python file's class is the PascalCase of its stem.

/// The suffix every plugin file stem ends with.
pub const PLUGIN_SUFFIX: &str = "_plugin";

/// A plugin file name split by the convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFileName {
    /// `example` for `example_plugin.py`.
    pub name: String,
    /// `example_plugin` for `example_plugin.py`.
    pub stem: String,
    /// `py` for `example_plugin.py`.
    pub extension: String,
}

impl PluginFileName {
    /// The alias every file-based plugin also answers to.
    pub fn alias(&self) -> &str {
        &self.stem
    }

    /// The class a Python plugin file must define: `ExamplePlugin` for `example_plugin.py`.
    pub fn class_name(&self) -> String {
        pascal_case(&self.stem)
    }
}

/// Splits `example_plugin.py` into name, stem and extension; `None` if the file does not
/// follow the convention (no `_plugin` suffix, no extension, an empty name).
pub fn parse_file_name(file_name: &str) -> Option<PluginFileName> {
    let (stem, extension) = file_name.rsplit_once('.')?;
    let name = stem.strip_suffix(PLUGIN_SUFFIX)?;
    if name.is_empty() || extension.is_empty() || !is_valid_name(name) {
        return None;
    }
    Some(PluginFileName {
        name: name.to_owned(),
        stem: stem.to_owned(),
        extension: extension.to_owned(),
    })
}

/// `text_stats_plugin` → `TextStatsPlugin`, as the original project's loader did
/// (`"".join(p.capitalize() for p in stem.split("_"))`).
pub fn pascal_case(stem: &str) -> String {
    stem.split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase()
                }
                None => String::new(),
            }
        })
        .collect()
}

/// Plugin names are what models see as tool names: ASCII letters, digits, `_` and `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &str, expected: Option<(&str, &str, &str)>) {
        let parsed = parse_file_name(file);
        let got = parsed
            .as_ref()
            .map(|p| (p.name.as_str(), p.class_name(), p.extension.as_str()));
        let expected = expected.map(|(n, c, e)| (n, c.to_owned(), e));
        assert_eq!(got, expected, "{file}");
    }

    #[test]
    fn file_names_follow_the_convention() {
        check(
            "example_plugin.py",
            Some(("example", "ExamplePlugin", "py")),
        );
        check(
            "text_stats_plugin.py",
            Some(("text_stats", "TextStatsPlugin", "py")),
        );
        check(
            "word_count_plugin.wasm",
            Some(("word_count", "WordCountPlugin", "wasm")),
        );
        check(
            "huggingface_plugin.toml",
            Some(("huggingface", "HuggingfacePlugin", "toml")),
        );
        check("_plugin.py", None);
        check("example.py", None);
        check("example_plugin", None);
        check("bad name_plugin.py", None);
    }
}
