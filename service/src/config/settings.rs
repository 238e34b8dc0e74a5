//! The settings store and Core's precedence rules (`common/settings.cpp`):
//! command line, then the chain's section of the config file, then the top
//! section, with Core's historical quirks kept.

use std::collections::HashMap;

use super::value::{Setting, Span, Value};

/// Where a value came from, highest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    CommandLine,
    NetworkSection,
    DefaultSection,
}

/// All values, by source and name (names without dash or `no`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) command_line: HashMap<String, Vec<Value>>,
    /// Config file values by section; "" is the top section.
    pub(crate) file: HashMap<String, HashMap<String, Vec<Value>>>,
}

impl Settings {
    fn sources<'a>(&'a self, section: &str, name: &str) -> Vec<(Span<'a>, Source)> {
        let mut out = Vec::with_capacity(3);
        if let Some(v) = self.command_line.get(name) {
            out.push((Span::new(v), Source::CommandLine));
        }
        if !section.is_empty() {
            if let Some(v) = self.file.get(section).and_then(|m| m.get(name)) {
                out.push((Span::new(v), Source::NetworkSection));
            }
        }
        if let Some(v) = self.file.get("").and_then(|m| m.get(name)) {
            out.push((Span::new(v), Source::DefaultSection));
        }
        out
    }

    /// Core's `GetSetting`: the single value of `name` as seen from
    /// `section` ("" for none). In the config file the first value wins
    /// (except for chain selection), on the command line the last one.
    pub(crate) fn get(
        &self,
        section: &str,
        name: &str,
        ignore_default_section: bool,
        chain_type: bool,
    ) -> Option<Setting<'_>> {
        for (span, source) in self.sources(section, name) {
            let file = source != Source::CommandLine;
            if ignore_default_section && source == Source::DefaultSection && !span.last_negated() {
                continue;
            }
            // Core ignores negated -regtest/-testnet... when picking the chain.
            if chain_type && span.last_negated() {
                continue;
            }
            let live = span.live();
            let pick = if file && !chain_type {
                live.first()
            } else {
                live.last()
            };
            if let Some(v) = pick {
                return Some(Setting::from_value(v));
            }
            if span.last_negated() {
                return Some(Setting::Bool(false));
            }
        }
        None
    }

    /// Core's `GetSettingsList`: every value of a multi-valued option, with
    /// the "zombie" rule (config values come back after `-nofoo -foo=x`).
    pub(crate) fn get_list(
        &self,
        section: &str,
        name: &str,
        ignore_default_section: bool,
    ) -> Vec<Setting<'_>> {
        let mut result = Vec::new();
        let mut done = false;
        let mut prev_negated_empty = false;
        for (span, source) in self.sources(section, name) {
            let file = source != Source::CommandLine;
            let zombie = file && !prev_negated_empty;
            if ignore_default_section && source == Source::DefaultSection {
                continue;
            }
            if !done || zombie {
                result.extend(span.live().iter().map(Setting::from_value));
            }
            done |= span.negated() > 0;
            prev_negated_empty |= span.last_negated() && result.is_empty();
        }
        result
    }

    /// Core's `OnlyHasDefaultSectionSetting`.
    pub(crate) fn only_in_default_section(&self, section: &str, name: &str) -> bool {
        let mut in_default = false;
        let mut elsewhere = false;
        for (span, source) in self.sources(section, name) {
            if span.live().is_empty() {
                continue;
            }
            if source == Source::DefaultSection {
                in_default = true;
            } else {
                elsewhere = true;
            }
        }
        in_default && !elsewhere
    }
}
