//! [`Table`]: one table of figures, rendered as Markdown (for `docs/`), CSV (for plots and
//! spreadsheets) or aligned text (for a terminal), so that every report writes its rows
//! once and every rendering agrees with the others.
//!
//! Guarantees: every row has exactly as many cells as the table has columns (the column
//! count is part of the type, so a row of another width does not compile); CSV quotes a
//! cell that holds a comma, a quote or a line break (RFC 4180); Markdown escapes `|` inside
//! cells.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: to the left.
    Left,
    /// Figures: to the right.
    Right,
}

/// A table of `N` columns: a header per column and rows of `N` cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<const N: usize> {
    columns: [(String, Align); N],
    rows: Vec<[String; N]>,
}

impl<const N: usize> Table<N> {
    /// A table with these columns: the first left-aligned (what the row is about), the
    /// others right-aligned (figures). [`Table::with_alignment`] says otherwise.
    pub fn new(headers: [&str; N]) -> Self {
        let mut i = 0;
        Self::with_alignment(headers.map(|h| {
            let align = if i == 0 { Align::Left } else { Align::Right };
            i += 1;
            (h, align)
        }))
    }

    /// A table whose columns line up as given.
    pub fn with_alignment(columns: [(&str, Align); N]) -> Self {
        Self {
            columns: columns.map(|(h, a)| (h.to_string(), a)),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push(&mut self, cells: [String; N]) {
        self.rows.push(cells);
    }

    /// As a Markdown table (GitHub flavour), ending in a newline.
    pub fn markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = line(self.columns.iter().map(|(h, _)| escape_pipes(h)).collect());
        out += &line(
            self.columns
                .iter()
                .map(|(_, a)| match a {
                    Align::Left => "---".to_string(),
                    Align::Right => "---:".to_string(),
                })
                .collect(),
        );
        for row in &self.rows {
            out += &line(row.iter().map(|c| escape_pipes(c)).collect());
        }
        out
    }

    /// As CSV with a header line, ending in a newline.
    pub fn csv(&self) -> String {
        let line = |cells: Vec<String>| cells.join(",") + "\n";
        let mut out = line(self.columns.iter().map(|(h, _)| csv_cell(h)).collect());
        for row in &self.rows {
            out += &line(row.iter().map(|c| csv_cell(c)).collect());
        }
        out
    }

    /// As text with the columns lined up (two spaces apart), ending in a newline.
    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                let cells = self.rows.iter().map(|r| r[i].chars().count());
                cells
                    .chain([self.columns[i].0.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((c, (_, align)), w)| match align {
                    Align::Left => format!("{c:<w$}"),
                    Align::Right => format!("{c:>w$}"),
                })
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(self.columns.iter().map(|(h, _)| h.as_str()).collect());
        for row in &self.rows {
            out += &line(row.iter().map(String::as_str).collect());
        }
        out
    }
}

fn escape_pipes(cell: &str) -> String {
    cell.replace('|', "\\|")
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table<3> {
        let mut t = Table::new(["scenario", "clients", "per s"]);
        t.push(["buy".into(), "64".into(), "2,716".into()]);
        t.push(["query|hit".into(), "1".into(), String::new()]);
        t
    }

    #[test]
    fn markdown_aligns_figures_right_and_escapes_pipes() {
        assert_eq!(
            sample().markdown(),
            "| scenario | clients | per s |\n| --- | ---: | ---: |\n\
             | buy | 64 | 2,716 |\n| query\\|hit | 1 |  |\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(
            sample().csv(),
            "scenario,clients,per s\nbuy,64,\"2,716\"\nquery|hit,1,\n"
        );
    }

    #[test]
    fn text_lines_up_columns() {
        assert_eq!(
            sample().text(),
            "scenario   clients  per s\nbuy             64  2,716\nquery|hit        1\n"
        );
        let mut t = Table::with_alignment([("a", Align::Right), ("b", Align::Left)]);
        t.push(["1".into(), "x".into()]);
        assert_eq!(t.text(), "a  b\n1  x\n");
    }
}
