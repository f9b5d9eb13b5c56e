//! What the client commands print on stdout: text for people (lines and aligned
//! tables), or JSON with `--json`.

use std::io::Write;

use serde::Serialize;

/// Text or JSON, written to stdout.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// `value` as one line of JSON.
    pub fn json(&self, value: &impl Serialize) -> std::io::Result<()> {
        let line = serde_json::to_string(value).expect("answers serialise");
        line_out(&line)
    }

    /// One line of text.
    pub fn line(&self, text: &str) -> std::io::Result<()> {
        line_out(text)
    }

    /// `rows` under `header`, each column as wide as its widest cell.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
        let mut out = String::new();
        for line in table(header, rows) {
            out.push_str(&line);
            out.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()
    }
}

fn line_out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// The lines of a table: columns separated by two spaces, the last not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, width)) in cells.into_iter().zip(&widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        line.trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec!["wh_1".to_owned(), "active".to_owned(), "x".to_owned()],
            vec!["wh_22".to_owned(), "off".to_owned(), String::new()],
        ];
        assert_eq!(
            table(&["ID", "STATUS", "URL"], &rows),
            ["ID     STATUS  URL", "wh_1   active  x", "wh_22  off"]
        );
    }
}
