//! One environment variable, declared once: its name, its default, the values it
//! takes and what it means. The same declaration reads the variable (so the name
//! and the default are written nowhere else) and describes it in README's
//! configuration reference and in help text.

use std::str::FromStr;
use std::time::Duration;

use super::{ConfigError, Env, ValueError, get, parse_bytes, parse_duration};

/// An environment variable Herald reads, declared as a `const`:
///
/// ```
/// use herald_common::config::Setting;
///
/// const POOL_SIZE: Setting = Setting::new("HERALD_DB_POOL_SIZE", "connections one replica holds")
///     .default("8")
///     .between("1", "100");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name, such as `HERALD_NATS_URL`.
    pub name: &'static str,
    /// What applies when the variable is unset or blank.
    pub default: DefaultValue,
    /// The values it takes; a value outside them stops the service.
    pub range: Range,
    /// Why the range is what it is, added to the message of a value outside it.
    pub why: &'static str,
    /// What it means, in one line (Markdown).
    pub doc: &'static str,
    /// More about it, for the README reference only (Markdown); may be empty.
    pub more: &'static str,
}

/// What a setting is when its variable is unset or blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This value, read as a set variable is.
    Value(&'static str),
    /// No value: the feature is off or open, as the text says (`any port`), or
    /// nothing when it is empty.
    Unset(&'static str),
    /// A value worked out at start, as the text says (`Herald/<version>`).
    Derived(&'static str),
    /// No value: the services that read it do not start without it.
    Required,
}

/// The values a setting takes. Bounds are written as the variable takes them
/// (`1s`, `16MiB`), and read by the same parser as its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Any value its parser reads.
    Any,
    AtLeast(&'static str),
    AtMost(&'static str),
    /// From the first to the second, both included.
    Between(&'static str, &'static str),
    /// A rule in words, checked by the code that reads the setting: the message of
    /// a value that breaks it is `must be <rule>`.
    Rule(&'static str),
}

impl Setting {
    /// A setting with no default and any value; the methods below say more.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Setting {
            name,
            default: DefaultValue::Unset(""),
            range: Range::Any,
            why: "",
            doc,
            more: "",
        }
    }

    pub const fn default(self, value: &'static str) -> Self {
        self.when_unset(DefaultValue::Value(value))
    }

    /// No default: unset means what `meaning` says (`any port`).
    pub const fn unset(self, meaning: &'static str) -> Self {
        self.when_unset(DefaultValue::Unset(meaning))
    }

    /// The default is worked out at start, as `how` says.
    pub const fn derived(self, how: &'static str) -> Self {
        self.when_unset(DefaultValue::Derived(how))
    }

    pub const fn required(self) -> Self {
        self.when_unset(DefaultValue::Required)
    }

    const fn when_unset(mut self, default: DefaultValue) -> Self {
        self.default = default;
        self
    }

    pub const fn at_least(self, min: &'static str) -> Self {
        self.within(Range::AtLeast(min))
    }

    pub const fn at_most(self, max: &'static str) -> Self {
        self.within(Range::AtMost(max))
    }

    pub const fn between(self, min: &'static str, max: &'static str) -> Self {
        self.within(Range::Between(min, max))
    }

    pub const fn rule(self, rule: &'static str) -> Self {
        self.within(Range::Rule(rule))
    }

    const fn within(mut self, range: Range) -> Self {
        self.range = range;
        self
    }

    pub const fn why(mut self, why: &'static str) -> Self {
        self.why = why;
        self
    }

    pub const fn more(mut self, more: &'static str) -> Self {
        self.more = more;
        self
    }

    /// The default when it is a value, as the variable would be set to it.
    pub fn default_value(&self) -> Option<&'static str> {
        match self.default {
            DefaultValue::Value(value) => Some(value),
            _ => None,
        }
    }

    /// The default as text: the value in backticks, `unset`, the derivation, or
    /// `required`.
    pub fn default_text(&self) -> String {
        match self.default {
            DefaultValue::Value(value) => format!("`{value}`"),
            DefaultValue::Unset("") => "unset".to_owned(),
            DefaultValue::Unset(meaning) => format!("unset: {meaning}"),
            DefaultValue::Derived(how) => how.to_owned(),
            DefaultValue::Required => "— (required)".to_owned(),
        }
    }

    /// The range as text: `1–100`, `at least 1`, the rule; empty for any value.
    pub fn range_text(&self) -> String {
        let bounds = match self.range {
            Range::Any => return String::new(),
            Range::AtLeast(min) => format!("at least {min}"),
            Range::AtMost(max) => format!("at most {max}"),
            Range::Between(min, max) => format!("{min}–{max}"),
            Range::Rule(rule) => rule.to_owned(),
        };
        match self.why {
            "" => bounds,
            why => format!("{bounds} ({why})"),
        }
    }

    /// The error of a value outside the range: `must be between 1 and 100`.
    pub fn out_of_range(&self) -> ConfigError {
        let bounds = match self.range {
            Range::Any => "valid".to_owned(),
            Range::AtLeast(min) => format!("at least {min}"),
            Range::AtMost(max) => format!("at most {max}"),
            Range::Between(min, max) => format!("between {min} and {max}"),
            Range::Rule(rule) => rule.to_owned(),
        };
        match self.why {
            "" => self.error(format!("must be {bounds}")),
            why => self.error(format!("must be {bounds} ({why})")),
        }
    }

    /// An error naming this variable.
    pub fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.name, reason)
    }

    /// The value when the variable is set and not blank, white space trimmed.
    pub fn get(&self, env: &dyn Env) -> Option<String> {
        get(env, self.name)
    }

    /// The value read with `parse`, else the default read the same way; `None`
    /// when the variable is unset and the default is not a value. The range is
    /// not checked: the caller checks it (or it is [`Range::Any`]).
    pub fn read_opt<T, E: std::fmt::Display>(
        &self,
        env: &dyn Env,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ConfigError> {
        let text = match (self.get(env), self.default) {
            (Some(value), _) => value,
            (None, DefaultValue::Value(default)) => default.to_owned(),
            (None, _) => return Ok(None),
        };
        parse(&text)
            .map(Some)
            .map_err(|reason| self.error(reason.to_string()))
    }

    /// Like [`read_opt`](Self::read_opt), for a setting that has a value: unset
    /// with no default is `must be set`.
    pub fn read<T, E: std::fmt::Display>(
        &self,
        env: &dyn Env,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, ConfigError> {
        self.read_opt(env, parse)?
            .ok_or_else(|| self.error("must be set"))
    }

    /// Like [`read`](Self::read), then checked against the range, whose bounds
    /// `parse` reads too.
    pub fn read_in<T: PartialOrd, E: std::fmt::Display>(
        &self,
        env: &dyn Env,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, ConfigError> {
        let value = self.read(env, &parse)?;
        let bound = |text: &str| {
            parse(text).map_err(|reason| self.error(format!("is declared with bound {reason}")))
        };
        let fits = match self.range {
            Range::Any | Range::Rule(_) => true,
            Range::AtLeast(min) => value >= bound(min)?,
            Range::AtMost(max) => value <= bound(max)?,
            Range::Between(min, max) => bound(min)? <= value && value <= bound(max)?,
        };
        if !fits {
            return Err(self.out_of_range());
        }
        Ok(value)
    }

    /// A value parsed with `FromStr`, within the range.
    pub fn parse<T>(&self, env: &dyn Env) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd,
        T::Err: std::fmt::Display,
    {
        self.read_in(env, from_str)
    }

    /// A duration such as `250ms`, `30s`, `5m`, `2h` or `7d`, within the range.
    pub fn duration(&self, env: &dyn Env) -> Result<Duration, ConfigError> {
        self.read_in(env, parse_duration)
    }

    /// A size such as `64MiB`, `512KiB`, `1GiB` or a number of bytes, within the
    /// range.
    pub fn bytes(&self, env: &dyn Env) -> Result<u64, ConfigError> {
        self.read_in(env, parse_bytes)
    }

    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`.
    pub fn flag(&self, env: &dyn Env) -> Result<bool, ConfigError> {
        self.read(env, parse_bool)
    }
}

/// `value` parsed with `FromStr`; its error says what is wrong.
pub fn from_str<T>(value: &str) -> Result<T, ValueError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| ValueError::Invalid {
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

/// `value` as it is: for settings whose value is any text.
pub fn text(value: &str) -> Result<String, std::convert::Infallible> {
    Ok(value.to_owned())
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, in any case.
fn parse_bool(value: &str) -> Result<bool, ValueError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(ValueError::NotBool(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    const COUNT: Setting = Setting::new("COUNT", "a count").default("5").at_least("1");
    const SIZE: Setting = Setting::new("SIZE", "a size")
        .default("1MiB")
        .between("8KiB", "1GiB")
        .why("room for one message");
    const WAIT: Setting = Setting::new("WAIT", "a wait")
        .default("5s")
        .between("1s", "30s");
    const NEEDED: Setting = Setting::new("NEEDED", "a must").required();

    #[test]
    fn defaults_are_read_as_values_are() {
        let env = MapEnv::default();
        assert_eq!(COUNT.parse::<u32>(&env).unwrap(), 5);
        assert_eq!(SIZE.bytes(&env).unwrap(), 1 << 20);
        assert_eq!(WAIT.duration(&env).unwrap(), Duration::from_secs(5));
        assert_eq!(
            NEEDED.read(&env, from_str::<u32>).unwrap_err().reason,
            "must be set"
        );
        assert_eq!(NEEDED.read_opt(&env, from_str::<u32>).unwrap(), None);
        let env = MapEnv::new([("COUNT", " 7 "), ("WAIT", "")]);
        assert_eq!(COUNT.parse::<u32>(&env).unwrap(), 7, "trimmed");
        assert_eq!(
            WAIT.duration(&env).unwrap(),
            Duration::from_secs(5),
            "blank"
        );
    }

    #[test]
    fn values_outside_the_range_name_the_variable_and_the_bounds() {
        let env = MapEnv::new([("COUNT", "0"), ("SIZE", "1KiB"), ("WAIT", "2m")]);
        let err = COUNT.parse::<u32>(&env).unwrap_err();
        assert_eq!(
            (err.var.as_str(), err.reason.as_str()),
            ("COUNT", "must be at least 1")
        );
        assert_eq!(
            SIZE.bytes(&env).unwrap_err().reason,
            "must be between 8KiB and 1GiB (room for one message)"
        );
        assert_eq!(
            WAIT.duration(&env).unwrap_err().reason,
            "must be between 1s and 30s"
        );
        let env = MapEnv::new([("COUNT", "many")]);
        assert!(
            COUNT
                .parse::<u32>(&env)
                .unwrap_err()
                .reason
                .starts_with("`many` is not valid")
        );
    }

    #[test]
    fn a_setting_describes_itself() {
        assert_eq!(COUNT.default_text(), "`5`");
        assert_eq!(COUNT.range_text(), "at least 1");
        assert_eq!(SIZE.range_text(), "8KiB–1GiB (room for one message)");
        assert_eq!(NEEDED.default_text(), "— (required)");
        assert_eq!(NEEDED.range_text(), "");
        let open = Setting::new("PORTS", "ports").unset("any port");
        assert_eq!(open.default_text(), "unset: any port");
    }

    #[test]
    fn booleans_take_common_spellings() {
        const FLAG: Setting = Setting::new("FLAG", "a flag").default("false");
        for (value, want) in [("YES", true), ("1", true), ("no", false), ("False", false)] {
            assert_eq!(FLAG.flag(&MapEnv::new([("FLAG", value)])).unwrap(), want);
        }
        assert_eq!(
            FLAG.flag(&MapEnv::new([("FLAG", "Maybe")]))
                .unwrap_err()
                .reason,
            "`maybe` is not a boolean (true or false)"
        );
    }
}
