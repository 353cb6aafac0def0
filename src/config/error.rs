//! The error a pipeline file gets: every problem, each with its position and component.

use std::fmt;

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line (0 when the problem is with the file as a whole).
    pub line: usize,
    /// 1-based column (0 when the problem is with the file as a whole).
    pub col: usize,
    /// The component the problem lies in, e.g. `stages[2] (length)`; `None` outside stages.
    pub context: Option<String>,
    /// Path of the offending value from the document root, e.g. `stages[2].min_chars`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// The path relative to the context: `min_chars` for `stages[2].min_chars` in
    /// `stages[2] (length)`; the whole path when there is no context.
    pub fn relative_path(&self) -> &str {
        let Some(context) = &self.context else {
            return &self.path;
        };
        // A context is the path of its component, optionally followed by ` (type)`.
        let base = context.split(" (").next().unwrap_or(context);
        match self.path.strip_prefix(base) {
            Some(rest) if rest.is_empty() || rest.starts_with('[') => rest,
            Some(rest) if rest.starts_with('.') => &rest[1..],
            _ => &self.path,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `LINE:COL: [CONTEXT: ][PATH: ]MESSAGE`, the path relative to the context.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.col)?;
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        let path = self.relative_path();
        if !path.is_empty() {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a pipeline file was not loaded: every problem found, sorted by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as it was named to the loader.
    pub file: String,
    /// The problems, sorted by position (problems at the same position keep the order found).
    pub problems: Vec<Diagnostic>,
}

impl ConfigError {
    /// An error for `file` with `problems`, which it sorts by position.
    pub fn new(file: &str, mut problems: Vec<Diagnostic>) -> Self {
        problems.sort_by_key(|d| (d.line, d.col));
        ConfigError {
            file: file.to_string(),
            problems,
        }
    }

    /// An error with a single problem about the file as a whole (position 0:0).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        let diagnostic = Diagnostic {
            line: 0,
            col: 0,
            context: None,
            path: String::new(),
            message: message.into(),
        };
        ConfigError::new(file, vec![diagnostic])
    }
}

impl fmt::Display for ConfigError {
    /// One `FILE:LINE:COL: ...` line per problem, then `N problem(s) in FILE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "{}:{problem}", self.file)?;
        }
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in {}",
            if n == 1 { "" } else { "s" },
            self.file
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: usize, context: Option<&str>, path: &str, message: &str) -> Diagnostic {
        Diagnostic {
            line,
            col: 3,
            context: context.map(str::to_string),
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    #[test]
    fn display_sorts_and_strips_the_context_from_paths() {
        let err = ConfigError::new(
            "p.yaml",
            vec![
                diag(
                    9,
                    Some("stages[2] (length)"),
                    "stages[2].min_chars",
                    "too big",
                ),
                diag(2, None, "output.dir", "bad"),
                diag(7, Some("stages[2]"), "stages[2]", "missing type"),
                diag(1, None, "", "root problem"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "p.yaml:1:3: root problem\n\
             p.yaml:2:3: output.dir: bad\n\
             p.yaml:7:3: stages[2]: missing type\n\
             p.yaml:9:3: stages[2] (length): min_chars: too big\n\
             4 problems in p.yaml"
        );
        assert_eq!(
            ConfigError::whole_file("x", "gone").to_string(),
            "x:0:0: gone\n1 problem in x"
        );
    }
}
