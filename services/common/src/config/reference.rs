//! README's configuration reference, written from the settings: for each set of
//! services reading the same variables (and for the command line's own), a
//! heading and a table with every variable's default, range and meaning.

use std::fmt::Write;

use super::Setting;

/// The line before the generated reference in README.
pub const BEGIN: &str = "<!-- config:begin -->";
/// The line after it.
pub const END: &str = "<!-- config:end -->";

/// A service and every setting it reads.
pub struct Service<'a> {
    pub name: &'static str,
    pub settings: &'a [&'static Setting],
}

/// The reference in Markdown: settings grouped by the services that read them,
/// those read by more services first, each in the order the services list them.
pub fn markdown(services: &[Service<'_>]) -> String {
    let mut groups: Vec<(Vec<&'static str>, Vec<&'static Setting>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let readers_of = |setting: &Setting| -> Vec<&'static str> {
        services
            .iter()
            .filter(|s| s.settings.iter().any(|x| x.name == setting.name))
            .map(|s| s.name)
            .collect()
    };
    for service in services {
        for setting in service.settings {
            if !seen.insert(setting.name) {
                continue;
            }
            let readers = readers_of(setting);
            match groups.iter_mut().find(|(r, _)| *r == readers) {
                Some((_, members)) => members.push(setting),
                None => groups.push((readers, vec![setting])),
            }
        }
    }
    groups.sort_by_key(|(readers, _)| std::cmp::Reverse(readers.len()));
    let mut out = String::new();
    for (readers, settings) in groups {
        let heading = if readers.len() == services.len() {
            "Every service".to_owned()
        } else {
            capitalised(&and_list(&readers))
        };
        write_group(&mut out, &heading, &settings);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// One group of the reference in Markdown, for settings read by something other
/// than a service (the command line's): `heading` and the table of `settings`.
pub fn markdown_group(heading: &str, settings: &[&'static Setting]) -> String {
    let mut out = String::new();
    write_group(&mut out, heading, settings);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn write_group(out: &mut String, heading: &str, settings: &[&'static Setting]) {
    let _ = writeln!(out, "### {heading}\n");
    out.push_str("| variable | default | values | meaning |\n|---|---|---|---|\n");
    for setting in settings {
        let mut meaning = setting.doc.to_owned();
        if !setting.more.is_empty() {
            let _ = write!(meaning, ". {}", setting.more);
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            setting.name,
            cell(&setting.default_text()),
            cell(&setting.range_text()),
            cell(&meaning),
        );
    }
    out.push('\n');
}

/// `text` with the reference between [`BEGIN`] and [`END`] replaced by
/// `reference`; `None` when the markers are missing.
pub fn replace(text: &str, reference: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find(END)?;
    Some(format!(
        "{}\n\n{reference}\n{}",
        &text[..start],
        &text[end..]
    ))
}

/// A table cell: no pipe ends it, no line break splits the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: Setting = Setting::new("SHARED", "read by all").default("1");
    const PAIR: Setting = Setting::new("PAIR", "read by two | piped").required();
    const OWN: Setting = Setting::new("OWN", "read by one")
        .unset("off")
        .at_least("2")
        .more("More here");

    #[test]
    fn settings_are_grouped_by_their_readers() {
        let reference = markdown(&[
            Service {
                name: "ingest",
                settings: &[&PAIR, &SHARED],
            },
            Service {
                name: "dispatcher",
                settings: &[&SHARED, &PAIR, &OWN],
            },
            Service {
                name: "status-tracker",
                settings: &[&SHARED],
            },
        ]);
        let want = "\
### Every service

| variable | default | values | meaning |
|---|---|---|---|
| `SHARED` | `1` |  | read by all |

### Ingest and dispatcher

| variable | default | values | meaning |
|---|---|---|---|
| `PAIR` | — (required) |  | read by two \\| piped |

### Dispatcher

| variable | default | values | meaning |
|---|---|---|---|
| `OWN` | unset: off | at least 2 | read by one. More here |
";
        assert_eq!(reference, want);
    }

    #[test]
    fn a_group_of_its_own_has_its_heading_and_table() {
        assert_eq!(
            markdown_group("Command line", &[&OWN]),
            "### Command line\n\n| variable | default | values | meaning |\n|---|---|---|---|\n\
             | `OWN` | unset: off | at least 2 | read by one. More here |\n"
        );
    }

    #[test]
    fn the_reference_goes_between_the_markers() {
        let text = format!("intro\n{BEGIN}\nold\n{END}\nafter\n");
        assert_eq!(
            replace(&text, "new\n").unwrap(),
            format!("intro\n{BEGIN}\n\nnew\n\n{END}\nafter\n")
        );
        assert_eq!(replace("no markers", "new"), None);
    }
}
