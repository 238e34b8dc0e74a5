//! The `bitcoin.conf` syntax (Core's `GetConfigOptions`).
//!
//! `name=value`, `name` alone (read as `name=1`; Core itself rejects a line
//! without `=`), `# comments` (everything from the first `#` on a line),
//! surrounding whitespace trimmed, `[section]` headers that prefix the
//! following names with `section.`, and the explicit `section.name=value`
//! form.

/// One `name=value` line; `name` carries its section prefix, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfLine {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// Where a section name was used, for the "not recognized" warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SectionUse {
    pub(crate) name: String,
    pub(crate) line: usize,
}

/// The options and section uses of one file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConfText {
    pub(crate) lines: Vec<ConfLine>,
    pub(crate) sections: Vec<SectionUse>,
}

const WS: &[char] = &[' ', '\t', '\r', '\n'];

/// Parses the text of a configuration file. The error is Core's message
/// without the "Error reading configuration file: " prefix.
pub(crate) fn parse_conf(text: &str) -> Result<ConfText, String> {
    let mut out = ConfText::default();
    let mut prefix = String::new();
    for (idx, raw) in text.lines().enumerate() {
        let linenr = idx + 1;
        let (content, used_hash) = match raw.find('#') {
            Some(pos) => (&raw[..pos], true),
            None => (raw, false),
        };
        let line = content.trim_matches(WS);
        if line.is_empty() {
            continue;
        }
        if line.len() >= 2 && line.starts_with('[') && line.ends_with(']') {
            let section = &line[1..line.len() - 1];
            out.sections.push(SectionUse {
                name: section.to_string(),
                line: linenr,
            });
            prefix = format!("{section}.");
            continue;
        }
        if line.starts_with('-') {
            return Err(format!(
                "parse error on line {linenr}: {line}, options in configuration file must be specified without leading -"
            ));
        }
        let (key, value) = match line.find('=') {
            Some(pos) => (
                line[..pos].trim_matches(WS),
                line[pos + 1..].trim_matches(WS),
            ),
            None => (line, "1"),
        };
        if key.is_empty() {
            return Err(format!("parse error on line {linenr}: {line}"));
        }
        let name = format!("{prefix}{key}");
        if used_hash && name.contains("rpcpassword") {
            return Err(format!(
                "parse error on line {linenr}, using # in rpcpassword can be ambiguous and should be avoided"
            ));
        }
        if let Some(dot) = name.rfind('.') {
            if prefix.len() <= dot {
                out.sections.push(SectionUse {
                    name: name[..dot].to_string(),
                    line: linenr,
                });
            }
        }
        out.lines.push(ConfLine {
            name,
            value: value.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(t: &ConfText) -> Vec<(&str, &str)> {
        t.lines
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn syntax() {
        let t = parse_conf(
            "# comment\n\n  a = 1 \nb\nc=x # trailing\n[regtest]\nd=2\nmain.e=3\n[test]\nnof=1\n",
        )
        .unwrap();
        assert_eq!(
            pairs(&t),
            vec![
                ("a", "1"),
                ("b", "1"),
                ("c", "x"),
                ("regtest.d", "2"),
                ("regtest.main.e", "3"),
                ("test.nof", "1"),
            ]
        );
        let names: Vec<_> = t
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.line))
            .collect();
        assert_eq!(
            names,
            vec![("regtest", 6), ("regtest.main", 8), ("test", 9)]
        );
    }

    #[test]
    fn errors() {
        assert!(parse_conf("-a=1")
            .unwrap_err()
            .contains("without leading -"));
        assert!(parse_conf("rpcpassword=ab#c")
            .unwrap_err()
            .contains("using # in rpcpassword"));
        assert!(parse_conf("=3").unwrap_err().contains("line 1"));
    }
}
