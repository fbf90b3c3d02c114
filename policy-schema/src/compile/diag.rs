//! Compiler diagnostics: where (file + JSON pointer), what, and how to fix it.

use std::fmt;

use crate::model::Policy;

/// A place in the input: a file and a JSON pointer inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: String,
    pub pointer: String,
}

impl Location {
    pub fn new(file: impl Into<String>, pointer: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            pointer: pointer.into(),
        }
    }

    /// The location of a child member (`key` escaped per RFC 6901).
    pub fn child(&self, key: &str) -> Location {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        Location {
            file: self.file.clone(),
            pointer: format!("{}/{}", self.pointer, escaped),
        }
    }

    /// The location of an array element.
    pub fn index(&self, i: usize) -> Location {
        Location {
            file: self.file.clone(),
            pointer: format!("{}/{}", self.pointer, i),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file, self.pointer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub at: Location,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {}: {}", self.at, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Collects findings; errors make the compilation fail as a whole, so a user
/// sees every problem of a spec in one run.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, at: &Location, message: impl Into<String>, hint: Option<&str>) {
        self.push(Severity::Error, at, message.into(), hint);
    }

    pub fn warn(&mut self, at: &Location, message: impl Into<String>, hint: Option<&str>) {
        self.push(Severity::Warning, at, message.into(), hint);
    }

    fn push(&mut self, severity: Severity, at: &Location, message: String, hint: Option<&str>) {
        self.items.push(Diagnostic {
            severity,
            at: at.clone(),
            message,
            hint: hint.map(str::to_string),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The policy when no error was found (warnings ride along), else every finding.
    pub fn finish(mut self, policy: Policy) -> Result<super::Compiled, Vec<Diagnostic>> {
        self.items.sort_by(|a, b| a.at.cmp(&b.at));
        self.items.dedup();
        if self.has_errors() {
            return Err(self.items);
        }
        if let Err(e) = crate::check(&policy) {
            return Err(vec![Diagnostic {
                severity: Severity::Error,
                at: Location::new("<policy>", ""),
                message: format!("compiled policy fails its own check: {e}"),
                hint: Some("this is a compiler bug; please report it with the spec".into()),
            }]);
        }
        Ok(super::Compiled {
            policy,
            warnings: self.items,
        })
    }
}
