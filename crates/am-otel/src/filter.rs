//! Which states get spans: the Go allow/skip rules (`AM_OTEL_TRACE_{ALLOW,SKIP}_STATES{,_RE}`).
//!
//! Regexes use the `regex` crate, whose syntax is the RE2 syntax Go's `regexp` accepts (no
//! backreferences or look-around in either); it is already in the workspace's lock file, so
//! it adds no build.

use regex::Regex;

use crate::env;
use crate::error::Error;

/// Allow and skip rules for (`machId`, `State`) pairs. Skip wins over allow; see
/// [`StateFilter::allows`] for the evaluation order.
///
/// ```
/// use am_otel::StateFilter;
/// let f = StateFilter::new()
///     .skip(["RegisterDisposal"])
///     .allow(["Ready", "worker:Busy"]);
/// assert!(f.allows("api", "Ready"));
/// assert!(!f.allows("api", "Busy"));
/// assert!(f.allows("worker", "Busy"));
/// assert!(!f.allows("api", "RegisterDisposal"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct StateFilter {
    allow: Vec<String>,
    allow_re: Option<Regex>,
    skip: Vec<String>,
    skip_re: Option<Regex>,
}

fn compile(name: &str, re: &str) -> Result<Regex, Error> {
    Regex::new(re).map_err(|source| Error::Regex { name: name.to_string(), source })
}

fn names_match(list: &[String], mach_id: &str, state: &str) -> bool {
    list.iter().any(|e| {
        e == state
            || (e.len() == mach_id.len() + 1 + state.len()
                && e.starts_with(mach_id)
                && e.ends_with(state)
                && e.as_bytes()[mach_id.len()] == b':')
    })
}

impl StateFilter {
    /// No rules: every state is traced.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds allow entries (`State` or `machId:State`).
    pub fn allow<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.allow.extend(names.into_iter().map(Into::into));
        self
    }
    /// Adds skip entries (`State` or `machId:State`).
    pub fn skip<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.skip.extend(names.into_iter().map(Into::into));
        self
    }
    /// Sets the allow regex, matched against `machId:State`.
    pub fn allow_regex(mut self, re: &str) -> Result<Self, Error> {
        self.allow_re = Some(compile("allow_regex", re)?);
        Ok(self)
    }
    /// Sets the skip regex, matched against `machId:State` and the bare machine ID.
    pub fn skip_regex(mut self, re: &str) -> Result<Self, Error> {
        self.skip_re = Some(compile("skip_regex", re)?);
        Ok(self)
    }
    /// The rules from the four `AM_OTEL_TRACE_{ALLOW,SKIP}_STATES{,_RE}` variables.
    pub fn from_env() -> Result<Self, Error> {
        let names = |name| am_core::env::parse(name, am_core::env::parse_names).map(Option::unwrap_or_default);
        let mut f = StateFilter::new()
            .allow(names(env::AM_OTEL_TRACE_ALLOW_STATES)?)
            .skip(names(env::AM_OTEL_TRACE_SKIP_STATES)?);
        if let Some(re) = am_core::env::value(env::AM_OTEL_TRACE_ALLOW_STATES_RE) {
            f.allow_re = Some(compile(env::AM_OTEL_TRACE_ALLOW_STATES_RE, &re)?);
        }
        if let Some(re) = am_core::env::value(env::AM_OTEL_TRACE_SKIP_STATES_RE) {
            f.skip_re = Some(compile(env::AM_OTEL_TRACE_SKIP_STATES_RE, &re)?);
        }
        Ok(f)
    }
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.skip.is_empty() && self.allow_re.is_none() && self.skip_re.is_none()
    }
    /// Whether a whole machine is skipped: the skip regex matches its bare ID.
    pub fn skips_machine(&self, mach_id: &str) -> bool {
        self.skip_re.as_ref().is_some_and(|re| re.is_match(mach_id))
    }
    /// Whether state `state` of machine `mach_id` gets spans, in the Go order:
    /// 1. a skip entry equal to `State` or `machId:State` skips;
    /// 2. with a skip regex set, the answer is "not matched" and allow rules are ignored;
    /// 3. with no allow rules, allow;
    /// 4. an allow entry equal to `State` or `machId:State` allows;
    /// 5. else the allow regex decides, if set; 6. else skip.
    pub fn allows(&self, mach_id: &str, state: &str) -> bool {
        if names_match(&self.skip, mach_id, state) {
            return false;
        }
        let full = || format!("{mach_id}:{state}");
        if let Some(re) = &self.skip_re {
            return !re.is_match(&full());
        }
        if self.allow.is_empty() && self.allow_re.is_none() {
            return true;
        }
        if names_match(&self.allow, mach_id, state) {
            return true;
        }
        self.allow_re.as_ref().is_some_and(|re| re.is_match(&full()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_rules() {
        let f = StateFilter::new().skip_regex("(^rm-|relay-|rc-)|(RegisterDisposal$)").unwrap();
        assert!(f.skips_machine("rm-1"));
        assert!(!f.skips_machine("worker"));
        assert!(!f.allows("w", "RegisterDisposal"));
        assert!(f.allows("w", "Ready"));
        // skip regex set: allow list ignored (Go)
        let f = f.allow(["Other"]);
        assert!(f.allows("w", "Ready"));

        let f = StateFilter::new().allow_regex("^api:").unwrap().allow(["Start"]);
        assert!(f.allows("api", "X"));
        assert!(f.allows("db", "Start"));
        assert!(!f.allows("db", "X"));
        let f = StateFilter::new().allow(["A"]).skip(["m:A"]);
        assert!(!f.allows("m", "A"));
        assert!(f.allows("n", "A"));
        assert!(!f.allows("n", "B"));
        assert!(StateFilter::new().allow(["m:A"]).allows("m", "A"));
        assert!(!StateFilter::new().allow(["mx:A"]).allows("m", "A"));
    }

    #[test]
    fn bad_regex() {
        assert!(matches!(StateFilter::new().skip_regex("("), Err(Error::Regex { .. })));
    }
}
